/**
 * Inline display in tslab notebooks. plotly.js is sent to the notebook page ONCE per kernel (a single <script>
 * output of ~10 MB), then each figure is a small <div> + Plotly.newPlot script, so a saved notebook holds the
 * library once, not once per figure (strip outputs before committing anyway: kernel-setup/strip_outputs.py).
 * tslab is required lazily, on the first display, so the SDK loads fast outside notebooks.
 */
import { assertValidFigure, Figure, FigureLike } from './figure';
import { figureSnippet, plotlyLibrary, plotlyVersion } from './plotly_lib';
import { tableHTML, TableHTMLOptions, ArqueroTableLike } from './table';

/** What the display functions need of tslab's `display` (tests pass a fake). */
export interface DisplayLike {
  html(s: string): void;
  png?(b: Uint8Array): void;
}

export interface ShowOptions {
  /** where to display (default: tslab.display of the running kernel) */
  display?: DisplayLike;
}

/** The displays that already got plotly.js (tslab's display is one object per kernel process). */
const loaded = new WeakSet<DisplayLike>();

function tslabDisplay(): DisplayLike {
  let mod: { display: DisplayLike };
  try {
    mod = require('tslab');
  } catch (e) {
    throw new Error(`show(): cannot load tslab (${(e as Error).message}); show() is for tslab notebooks, use toPNG()/toHTML() elsewhere`);
  }
  const d = mod.display;
  // tslab's display throws "Not ready" outside a running kernel: say what to do instead
  const guard =
    (f: (x: never) => void) =>
    (x: never): void => {
      try {
        f.call(d, x);
      } catch (e) {
        throw new Error(`show(): no tslab kernel is running here (tslab: ${(e as Error).message}); use toPNG()/toHTML() outside notebooks`);
      }
    };
  return { html: guard(d.html as (x: never) => void), png: d.png ? guard(d.png as (x: never) => void) : undefined };
}

let defaultDisplay: DisplayLike | null = null;
function resolveDisplay(d?: DisplayLike): DisplayLike {
  if (d) return d;
  if (!defaultDisplay) defaultDisplay = tslabDisplay();
  return defaultDisplay;
}

/**
 * Sends plotly.js to the notebook page (once per display unless `force`, e.g. after reloading the browser tab
 * without restarting the kernel). show() calls it; call it yourself only to force a reload.
 */
export function loadPlotly(opts: ShowOptions & { force?: boolean } = {}): void {
  const d = resolveDisplay(opts.display);
  if (loaded.has(d) && !opts.force) return;
  d.html(`<script type="text/javascript">/* plotly.js ${plotlyVersion()} (nnunet-ts loadPlotly) */\n${plotlyLibrary()}\n</script>`);
  loaded.add(d);
}

/** Displays a figure inline in a tslab notebook (interactive Plotly). */
export function show(fig: FigureLike, opts: ShowOptions = {}): void {
  assertValidFigure(fig, 'show()');
  const d = resolveDisplay(opts.display);
  loadPlotly({ display: d });
  d.html(figureSnippet(fig));
}

/** Displays an arquero table (or array of row objects) as an HTML table. */
export function showTable(table: ArqueroTableLike | readonly object[], opts: TableHTMLOptions & ShowOptions = {}): void {
  resolveDisplay(opts.display).html(tableHTML(table, opts));
}

/**
 * Displays a figure as a static PNG rendered by headless Chromium (no plotly.js in the notebook at all: small
 * outputs that survive any viewer, e.g. GitHub's).
 */
export async function showPNG(fig: FigureLike, opts: ShowOptions & { width?: number; height?: number; scale?: number } = {}): Promise<void> {
  const d = resolveDisplay(opts.display);
  if (!d.png) throw new Error('showPNG(): this display cannot show PNG images');
  const { renderPNG } = await import('./render');
  d.png(await renderPNG(fig, opts));
}
