/**
 * One self-contained HTML report: headings, text, tables and Plotly figures in one file, plotly.js inlined once,
 * no network access needed to open it (a newcomer's first look at a run, an artifact to attach to an issue).
 */
import { writeFileAtomic } from '../io/atomic';
import { assertValidFigure, Figure, FigureLike } from './figure';
import { figureSnippet, plotlyLibrary, plotlyVersion } from './plotly_lib';
import { ArqueroTableLike, escapeHTML, tableHTML, TableHTMLOptions } from './table';

export type ReportBlock =
  | { kind: 'text'; text: string }
  | { kind: 'html'; html: string }
  | { kind: 'table'; table: ArqueroTableLike | readonly object[]; options?: TableHTMLOptions }
  | { kind: 'figure'; figure: FigureLike; caption?: string };

export interface ReportSection {
  heading: string;
  blocks: ReportBlock[];
}

export interface ReportOptions {
  title: string;
  /** one line under the title (e.g. what ran, where, how long) */
  subtitle?: string;
}

const STYLE = `
body { font-family: system-ui, sans-serif; margin: 24px auto; max-width: 1100px; color: #222; }
h1 { font-size: 22px; margin-bottom: 4px; } h2 { font-size: 17px; border-bottom: 1px solid #ddd; padding-bottom: 4px; margin-top: 28px; }
p.sub { color: #666; margin-top: 0; } p.caption { color: #555; font-size: 13px; }
table { border-collapse: collapse; font-size: 13px; margin: 8px 0; } td, th { border: 1px solid #ddd; padding: 3px 8px; text-align: right; }
th { background: #f4f4f4; } pre { background: #f7f7f7; padding: 8px; font-size: 12px; overflow-x: auto; }
`;

/** The report as one HTML string. Throws, naming the section, if a figure is not a valid Plotly spec. */
export function reportHTML(sections: readonly ReportSection[], opts: ReportOptions): string {
  let figures = 0;
  const body = sections
    .map((s) => {
      const blocks = s.blocks.map((b) => {
        switch (b.kind) {
          case 'text':
            return b.text
              .split(/\n{2,}/)
              .map((p) => `<p>${escapeHTML(p)}</p>`)
              .join('\n');
          case 'html':
            return b.html;
          case 'table':
            return tableHTML(b.table, b.options);
          case 'figure': {
            assertValidFigure(b.figure as Figure, `report section '${s.heading}'`);
            const snippet = figureSnippet(b.figure, { id: `report-figure-${figures++}` });
            return snippet + (b.caption ? `<p class="caption">${escapeHTML(b.caption)}</p>` : '');
          }
        }
      });
      return `<section>\n<h2>${escapeHTML(s.heading)}</h2>\n${blocks.join('\n')}\n</section>`;
    })
    .join('\n');
  const lib = figures > 0 ? `<script type="text/javascript">/* plotly.js ${plotlyVersion()} */\n${plotlyLibrary()}\n</script>\n` : '';
  return (
    `<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>${escapeHTML(opts.title)}</title>\n<style>${STYLE}</style>\n${lib}</head>\n` +
    `<body>\n<h1>${escapeHTML(opts.title)}</h1>\n${opts.subtitle ? `<p class="sub">${escapeHTML(opts.subtitle)}</p>\n` : ''}${body}\n</body></html>\n`
  );
}

/** Writes the report atomically; returns the file and its size. */
export async function writeReport(file: string, sections: readonly ReportSection[], opts: ReportOptions): Promise<{ file: string; bytes: number }> {
  const html = reportHTML(sections, opts);
  await writeFileAtomic(file, html);
  return { file, bytes: Buffer.byteLength(html) };
}
