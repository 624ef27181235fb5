/**
 * Screenshots of every figure of executed notebooks, as a reader sees them: opens each exported
 * notebooks/out/NAME.html in headless Chromium (file://, one browser for all pages), waits until plotly.js has drawn
 * every figure, checks that each drew something (SVG traces, shapes, annotations, heatmap images or a canvas), and
 * writes one PNG per figure output (element screenshots of the plotly divs and of PNG image outputs) to
 * <out>/screenshots/NAME/figNN.png, plus <out>/screenshots/index.html and index.md listing them with their cell.
 *
 *   node -r ts-node/register/transpile-only kernel-setup/screenshot_notebooks.ts [--out notebooks/out] [NAME ...]
 *
 * NAME: a notebook name without extension (default: every NAME.html in the out folder). Exit status 1 when a page
 * has a figure that plotly did not draw (the message names the notebook, the cell and the figure), 2 when Chromium is
 * missing (kernel-setup/install.sh installs it; NNUNET_CHROMIUM points elsewhere). run_notebooks.py calls this after
 * the first run (--no-screenshots skips it).
 */
import * as fs from 'fs';
import * as path from 'path';
import type { Page } from 'playwright-core';
import { CHROMIUM_ARGS, chromiumPath } from '../sdk/viz/render';

const ROOT = path.resolve(__dirname, '..');
/** How long a page may take until every figure is drawn (ms; NNUNET_SCREENSHOT_TIMEOUT_MS). */
const TIMEOUT_MS = Number(process.env.NNUNET_SCREENSHOT_TIMEOUT_MS ?? 60000);
const VIEWPORT = { width: 1280, height: 900 };

export interface Shot {
  notebook: string;
  file: string;
  /** 1-based position of the cell in the notebook (markdown cells counted), as Jupyter's cell list shows it */
  cell: number;
  /** the code cell's execution count (In [n]) */
  executionCount: number | null;
  kind: 'plotly' | 'image';
  title: string;
  width: number;
  height: number;
  bytes: number;
}

// Runs in the page: the figure outputs in document order, with their cell and whether plotly drew them.
const FIGURES_JS = `() => {
  const cells = Array.from(document.querySelectorAll('.jp-Notebook-cell'));
  const els = Array.from(document.querySelectorAll('.nnunet-ts-figure, .jp-OutputArea-output img'));
  return els.map((el, i) => {
    el.setAttribute('data-nnunet-shot', String(i));
    const cell = el.closest('.jp-Notebook-cell');
    const prompt = cell ? cell.querySelector('.jp-InputPrompt') : null;
    const m = prompt ? /\\[(\\d+)\\]/.exec(prompt.textContent || '') : null;
    const isPlotly = el.classList.contains('nnunet-ts-figure');
    const svg = isPlotly ? el.querySelector('.main-svg') : null;
    const marks = isPlotly
      ? el.querySelectorAll('.main-svg .trace, .main-svg image, .main-svg .shapelayer path, .main-svg .annotation, canvas').length
      : 0;
    const lay = isPlotly && el._fullLayout ? el._fullLayout : null;
    // the figure's own title (the user layout: _fullLayout holds Plotly's placeholder text for an untitled figure)
    const t = isPlotly && el.layout ? el.layout.title : null;
    const title = t ? String(typeof t === 'string' ? t : t.text || '') : (el.getAttribute('alt') || '');
    const r = el.getBoundingClientRect();
    return {
      index: i,
      id: el.id || '',
      kind: isPlotly ? 'plotly' : 'image',
      cell: cell ? cells.indexOf(cell) + 1 : 0,
      executionCount: m ? Number(m[1]) : null,
      drawn: isPlotly ? Boolean(svg && lay && marks > 0) : el.complete && el.naturalWidth > 0,
      marks: marks,
      text: isPlotly && !svg ? (el.textContent || '').slice(0, 200) : '',
      title: title.replace(/<[^>]*>/g, ' ').replace(/\\s+/g, ' ').trim(),
      width: Math.round(r.width),
      height: Math.round(r.height),
    };
  });
}`;
// true once every plotly div is drawn or has given up (figureSnippet writes a message when plotly.js is missing)
const SETTLED_JS = `() => Array.from(document.querySelectorAll('.nnunet-ts-figure')).every((el) =>
  (el._fullLayout && el.querySelector('.main-svg')) || (el.textContent || '').includes('plotly.js is not loaded'))`;

interface PageFigure {
  index: number;
  id: string;
  kind: 'plotly' | 'image';
  cell: number;
  executionCount: number | null;
  drawn: boolean;
  marks: number;
  text: string;
  title: string;
  width: number;
  height: number;
}

async function shootNotebook(page: Page, html: string, name: string, dir: string, timeoutMs: number): Promise<{ shots: Shot[]; problems: string[] }> {
  await page.goto('file://' + html, { waitUntil: 'load', timeout: timeoutMs });
  // MathJax (nbconvert's template loads it) shows a fixed-position loading message that would land in the shots
  await page.addStyleTag({ content: '#MathJax_Message { display: none !important; }' });
  const problems: string[] = [];
  try {
    await page.waitForFunction(`(${SETTLED_JS})()`, undefined, { timeout: timeoutMs, polling: 200 });
  } catch {
    problems.push(`${name}: plotly did not draw every figure within ${timeoutMs / 1000} s`);
  }
  const figures = (await page.evaluate(`(${FIGURES_JS})()`)) as PageFigure[];
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const shots: Shot[] = [];
  let n = 0;
  for (const f of figures) {
    const where = `${name} cell ${f.cell}${f.executionCount !== null ? ` (In [${f.executionCount}])` : ''}, ${f.kind} figure ${f.index + 1}`;
    if (!f.drawn) {
      problems.push(`${where} was not drawn${f.kind === 'plotly' ? ` by plotly (${f.marks} marks${f.text ? `; page says: ${f.text}` : ''})` : ' (image did not load)'}`);
      continue;
    }
    if (f.width < 2 || f.height < 2) {
      problems.push(`${where} has no size on the page (${f.width} x ${f.height})`);
      continue;
    }
    const file = path.join(dir, `fig${String(++n).padStart(2, '0')}.png`);
    await page.locator(`[data-nnunet-shot="${f.index}"]`).screenshot({ path: file, animations: 'disabled' });
    shots.push({
      notebook: name,
      file,
      cell: f.cell,
      executionCount: f.executionCount,
      kind: f.kind,
      title: f.title,
      width: f.width,
      height: f.height,
      bytes: fs.statSync(file).size,
    });
  }
  return { shots, problems };
}

function escapeHTML(s: string): string {
  return s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c] as string);
}

function writeIndex(shotsDir: string, all: Shot[]): void {
  const rel = (f: string) => path.relative(shotsDir, f).split(path.sep).join('/');
  const cellOf = (s: Shot) => `cell ${s.cell}${s.executionCount !== null ? ` (In [${s.executionCount}])` : ''}`;
  const md = ['# Notebook figures (screenshots taken by kernel-setup/run_notebooks.py in headless Chromium)', ''];
  const html = [
    '<!DOCTYPE html><html><head><meta charset="utf-8"><title>nnunet-ts notebook figures</title>',
    '<style>body{font-family:sans-serif;margin:1em}figure{display:inline-block;margin:0 1em 1.5em 0;vertical-align:top}',
    'img{border:1px solid #ccc;max-width:100%}figcaption{font-size:13px;max-width:700px}</style></head><body>',
    '<h1>Notebook figures</h1><p>Screenshots of the executed notebooks (notebooks/out/NAME.html) taken by kernel-setup/run_notebooks.py in headless Chromium.</p>',
  ];
  let current = '';
  for (const s of all) {
    if (s.notebook !== current) {
      current = s.notebook;
      md.push(...(md[md.length - 1] === '' ? [] : ['']), `## ${current}`, '', '| file | cell | kind | title | size |', '| --- | --- | --- | --- | --- |');
      html.push(`<h2>${escapeHTML(current)}</h2>`);
    }
    md.push(`| [${rel(s.file)}](${rel(s.file)}) | ${cellOf(s)} | ${s.kind} | ${s.title.replace(/\|/g, '\\|')} | ${s.width}x${s.height}, ${Math.round(s.bytes / 1024)} KB |`);
    html.push(
      `<figure><img src="${escapeHTML(rel(s.file))}" loading="lazy"><figcaption><b>${escapeHTML(rel(s.file))}</b>: ${escapeHTML(cellOf(s))}, ${s.kind}` +
        `${s.title ? ` — ${escapeHTML(s.title)}` : ''}</figcaption></figure>`,
    );
  }
  html.push('</body></html>');
  fs.writeFileSync(path.join(shotsDir, 'index.md'), md.join('\n') + '\n');
  fs.writeFileSync(path.join(shotsDir, 'index.html'), html.join('\n') + '\n');
  fs.writeFileSync(path.join(shotsDir, 'index.json'), JSON.stringify(all.map((s) => ({ ...s, file: rel(s.file) })), null, 1) + '\n');
}

export async function screenshotNotebooks(
  outDir: string,
  names: string[],
  opts: { timeoutMs?: number; log?: (line: string) => void } = {},
): Promise<{ shots: Shot[]; problems: string[] }> {
  const timeoutMs = opts.timeoutMs ?? TIMEOUT_MS;
  const log = opts.log ?? ((l: string) => console.log(l));
  const executablePath = chromiumPath();
  if (!fs.existsSync(executablePath)) {
    const e = new Error(
      `screenshot_notebooks: no Chromium at ${executablePath}; install it (kernel-setup/install.sh, or apt-get install -y chromium), ` +
        'set NNUNET_CHROMIUM=/path/to/chrome, or run the notebooks with --no-screenshots',
    );
    (e as Error & { code?: string }).code = 'NO_CHROMIUM';
    throw e;
  }
  const shotsDir = path.join(outDir, 'screenshots');
  fs.mkdirSync(shotsDir, { recursive: true });
  const { chromium } = require('playwright-core') as typeof import('playwright-core');
  const browser = await chromium.launch({ executablePath, headless: true, args: CHROMIUM_ARGS });
  const all: Shot[] = [];
  const problems: string[] = [];
  try {
    const context = await browser.newContext({ viewport: VIEWPORT, deviceScaleFactor: 1 });
    // file:// only: the exported page must draw from what it holds (plotly.js is inlined), never from a network
    await context.route(/^(?!file:)/, (route) => route.abort());
    for (const name of names) {
      const html = path.join(outDir, `${name}.html`);
      if (!fs.existsSync(html)) {
        problems.push(`${name}: no ${path.relative(ROOT, html)} (run the notebook with the HTML export)`);
        continue;
      }
      const page = await context.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(String(e.message).slice(0, 300)));
      try {
        const t0 = Date.now();
        const r = await shootNotebook(page, html, name, path.join(shotsDir, name), timeoutMs);
        all.push(...r.shots);
        problems.push(...r.problems);
        if (r.problems.length && errors.length) problems.push(`${name}: page errors: ${errors.join(' | ')}`);
        log(`screenshot_notebooks: ${name}: ${r.shots.length} figures in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      } catch (e) {
        problems.push(`${name}: ${(e as Error).message.split('\n')[0]}`);
      } finally {
        await page.close();
      }
    }
  } finally {
    await browser.close();
  }
  // the index lists every notebook's screenshots on disk (a run of some notebooks keeps the others')
  const onDisk = new Set(all.map((s) => s.notebook));
  const indexFile = path.join(shotsDir, 'index.json');
  if (fs.existsSync(indexFile)) {
    try {
      const previous = JSON.parse(fs.readFileSync(indexFile, 'utf8')) as Shot[];
      for (const s of previous) {
        const file = path.join(shotsDir, s.file);
        if (!onDisk.has(s.notebook) && !names.includes(s.notebook) && fs.existsSync(file)) all.push({ ...s, file });
      }
    } catch {
      /* an unreadable old index is rewritten */
    }
  }
  all.sort((a, b) => (a.notebook < b.notebook ? -1 : a.notebook > b.notebook ? 1 : a.file < b.file ? -1 : 1));
  writeIndex(shotsDir, all);
  return { shots: all, problems };
}

async function main(argv: string[]): Promise<number> {
  let outDir = path.join(ROOT, 'notebooks', 'out');
  const names: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--out') outDir = path.resolve(argv[++i]);
    else if (argv[i] === '-h' || argv[i] === '--help') {
      console.log('usage: screenshot_notebooks.ts [--out DIR] [NAME ...]');
      return 0;
    } else names.push(path.basename(argv[i]).replace(/\.(ipynb|html)$/, ''));
  }
  if (names.length === 0 && fs.existsSync(outDir)) {
    names.push(...fs.readdirSync(outDir).filter((f) => f.endsWith('.html')).map((f) => f.slice(0, -5)).sort());
  }
  if (names.length === 0) {
    console.error(`screenshot_notebooks: no NAME.html in ${outDir}`);
    return 1;
  }
  const t0 = Date.now();
  let r: { shots: Shot[]; problems: string[] };
  try {
    r = await screenshotNotebooks(outDir, names);
  } catch (e) {
    console.error((e as Error).message);
    return (e as Error & { code?: string }).code === 'NO_CHROMIUM' ? 2 : 1;
  }
  const shotsDir = path.join(outDir, 'screenshots');
  const mine = r.shots.filter((s) => names.includes(s.notebook));
  console.log(
    `screenshot_notebooks: ${mine.length} figures of ${names.length} notebooks in ${((Date.now() - t0) / 1000).toFixed(1)} s -> ` +
      `${path.relative(ROOT, shotsDir) || shotsDir}/ (index.html, index.md)`,
  );
  if (r.problems.length) {
    console.error(`screenshot_notebooks: FAILED, ${r.problems.length} problems:\n  ${r.problems.join('\n  ')}`);
    return 1;
  }
  return 0;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e) => {
      console.error(e);
      process.exit(1);
    },
  );
}
