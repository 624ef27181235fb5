/**
 * Headless export of figures: PNG through Chromium (playwright-core driving /usr/bin/chromium or $NNUNET_CHROMIUM)
 * and standalone HTML files. One browser and one page serve many figures (plotly.js is loaded into the page once);
 * the shared renderer closes itself after a few idle seconds, or call closeRenderer(). playwright-core is required
 * only when a browser is launched.
 */
import * as fs from 'fs';
import type { Browser, Page } from 'playwright-core';
import { writeFileAtomic } from '../io/atomic';
import { assertValidFigure, Figure, FigureLike } from './figure';
import { figureSnippet, plotlyLibrary, plotlyVersion } from './plotly_lib';
import { escapeHTML } from './table';

/** Chromium flags that work in containers and CI (toolchain doc section 2). */
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];

export function chromiumPath(): string {
  return process.env.NNUNET_CHROMIUM || '/usr/bin/chromium';
}

export interface FigureRenderOptions {
  /** CSS pixels (default: layout.width, else 700) */
  width?: number;
  /** CSS pixels (default: layout.height, else 450) */
  height?: number;
  /** device pixel ratio of the PNG (default 1) */
  scale?: number;
}

function sizeOf(figure: FigureLike, opts: FigureRenderOptions): { width: number; height: number; scale: number } {
  const fig = figure as Figure;
  const width = opts.width ?? (typeof fig.layout.width === 'number' ? fig.layout.width : 700);
  const height = opts.height ?? (typeof fig.layout.height === 'number' ? fig.layout.height : 450);
  const scale = opts.scale ?? 1;
  for (const [k, v] of Object.entries({ width, height, scale })) {
    if (!(Number.isFinite(v) && v > 0)) throw new Error(`render: ${k} must be a positive number, got ${v}`);
  }
  return { width, height, scale };
}

// Runs in the page. Plotly draws the figure at the requested size, exports it, and frees the div for the next one.
const RENDER_PNG_JS = `async (a) => {
  const gd = document.getElementById('g');
  const layout = Object.assign({}, a.fig.layout, { width: a.width, height: a.height });
  await Plotly.newPlot(gd, { data: a.fig.data, layout: layout, frames: a.fig.frames || [], config: { staticPlot: true } });
  const url = await Plotly.toImage(gd, { format: 'png', width: a.width, height: a.height, scale: a.scale });
  Plotly.purge(gd);
  return url;
}`;
// Plotly.validate compares slider/menu step `args` (free-form arrays) by identity and so reports every step as
// "(set to 'X') got reset to 'X'"; those messages (same value both sides) are dropped, all others kept.
const VALIDATE_JS = `(a) => (Plotly.validate(a.data, a.layout) || []).map((e) => e.msg)
  .filter((m) => { const r = /set to '(.*)'\\) got reset to '(.*)' during defaults/.exec(m); return !(r && r[1] === r[2]); })`;

/** A headless Chromium page with plotly.js loaded, rendering figures one at a time. */
export class FigureRenderer {
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;

  private constructor(
    private readonly browser: Browser,
    private readonly page: Page,
  ) {}

  /** Launches Chromium (once per renderer) and loads plotly.js into a blank page. */
  static async launch(opts: { executablePath?: string } = {}): Promise<FigureRenderer> {
    const executablePath = opts.executablePath ?? chromiumPath();
    if (!fs.existsSync(executablePath)) {
      throw new Error(
        `render: no Chromium at ${executablePath}; install it (Debian: apt-get install -y chromium, or kernel-setup/install.sh) or set NNUNET_CHROMIUM`,
      );
    }
    const { chromium } = require('playwright-core') as typeof import('playwright-core');
    const browser = await chromium.launch({ executablePath, headless: true, args: CHROMIUM_ARGS });
    try {
      const page = await browser.newPage();
      await page.setContent('<!DOCTYPE html><html><head><meta charset="utf-8"></head><body style="margin:0"><div id="g"></div></body></html>');
      await page.addScriptTag({ content: plotlyLibrary() });
      return new FigureRenderer(browser, page);
    } catch (e) {
      await browser.close().catch(() => undefined);
      throw e;
    }
  }

  /** Serialises page work: figures share the one div. */
  private run<T>(f: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new Error('render: the renderer is closed'));
    const p = this.queue.then(f, f);
    this.queue = p.catch(() => undefined);
    return p;
  }

  /** PNG bytes of `fig` at width x height CSS pixels times scale. */
  png(fig: FigureLike, opts: FigureRenderOptions = {}): Promise<Uint8Array> {
    assertValidFigure(fig, 'render');
    const size = sizeOf(fig, opts);
    const arg = JSON.stringify({ fig: { data: fig.data, layout: fig.layout, frames: fig.frames ?? [] }, ...size });
    return this.run(async () => {
      const url = (await this.page.evaluate(`(${RENDER_PNG_JS})(${arg})`)) as string;
      const prefix = 'data:image/png;base64,';
      if (typeof url !== 'string' || !url.startsWith(prefix)) throw new Error('render: Plotly.toImage did not return a PNG data URL');
      return new Uint8Array(Buffer.from(url.slice(prefix.length), 'base64'));
    });
  }

  /** Plotly's own attribute validation (Plotly.validate): messages for unknown or invalid attributes; [] if valid. */
  validate(fig: FigureLike): Promise<string[]> {
    const arg = JSON.stringify({ data: fig.data, layout: fig.layout });
    return this.run(async () => (await this.page.evaluate(`(${VALIDATE_JS})(${arg})`)) as string[]);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.queue;
    await this.browser.close();
  }
}

// ---- shared renderer for toPNG / renderPNG / showPNG ----------------------------------------------------------------
let shared: Promise<FigureRenderer> | null = null;
let idleTimer: NodeJS.Timeout | null = null;
let inFlight = 0;
/** Idle time after which the shared browser closes (ms; NNUNET_RENDER_IDLE_MS, default 5000). */
const IDLE_MS = Number(process.env.NNUNET_RENDER_IDLE_MS ?? 5000);

async function withShared<T>(f: (r: FigureRenderer) => Promise<T>): Promise<T> {
  if (idleTimer) clearTimeout(idleTimer);
  idleTimer = null;
  inFlight++;
  try {
    if (!shared) {
      shared = FigureRenderer.launch();
      shared.catch(() => (shared = null));
    }
    return await f(await shared);
  } finally {
    inFlight--;
    if (inFlight === 0 && shared) {
      idleTimer = setTimeout(() => void closeRenderer(), IDLE_MS);
      idleTimer.unref(); // never keeps a finished script alive; the browser dies with the process
    }
  }
}

/** Closes the shared browser now (a later export launches a new one). */
export async function closeRenderer(): Promise<void> {
  if (idleTimer) clearTimeout(idleTimer);
  idleTimer = null;
  const s = shared;
  shared = null;
  if (s) await (await s.catch(() => null))?.close();
}

/** PNG bytes of a figure (shared headless Chromium). */
export function renderPNG(fig: FigureLike, opts: FigureRenderOptions = {}): Promise<Uint8Array> {
  assertValidFigure(fig, 'renderPNG()');
  return withShared((r) => r.png(fig, opts));
}

/** Writes `fig` as a PNG file (atomically). Returns the file, its size in bytes and the pixel size. */
export async function toPNG(
  fig: FigureLike,
  file: string,
  opts: FigureRenderOptions = {},
): Promise<{ file: string; bytes: number; width: number; height: number }> {
  assertValidFigure(fig, `toPNG(${file})`);
  const size = sizeOf(fig, opts);
  let png: Uint8Array;
  try {
    png = await withShared((r) => r.png(fig, opts));
  } catch (e) {
    throw new Error(`toPNG(${file}): ${(e as Error).message}`);
  }
  await writeFileAtomic(file, png);
  return { file, bytes: png.length, width: Math.round(size.width * size.scale), height: Math.round(size.height * size.scale) };
}

/** Plotly's attribute validation of a figure in the shared browser ([] if valid). */
export function validateInBrowser(fig: FigureLike): Promise<string[]> {
  return withShared((r) => r.validate(fig));
}

/**
 * Writes a standalone interactive HTML page of `fig`. By default plotly.js is inlined (~10 MB, works offline);
 * `plotlyjs: {src}` references a script URL instead (e.g. a copy of plotly.js-dist next to the file).
 * No browser is needed to write it.
 */
export async function toHTML(
  figure: FigureLike,
  file: string,
  opts: { title?: string; plotlyjs?: 'inline' | { src: string } } = {},
): Promise<{ file: string; bytes: number }> {
  const fig = figure as Figure;
  assertValidFigure(fig, `toHTML(${file})`);
  const t = fig.layout.title as { text?: string } | string | undefined;
  const title = opts.title ?? (typeof t === 'string' ? t : t?.text) ?? 'nnunet-ts figure';
  const lib =
    opts.plotlyjs && opts.plotlyjs !== 'inline'
      ? `<script type="text/javascript" src="${escapeHTML(opts.plotlyjs.src)}"></script>`
      : `<script type="text/javascript">/* plotly.js ${plotlyVersion()} */\n${plotlyLibrary()}\n</script>`;
  const html =
    `<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>${escapeHTML(title)}</title>\n${lib}\n</head>\n` +
    `<body>\n${figureSnippet(fig, { id: 'nnunet-ts-figure' })}\n</body></html>\n`;
  await writeFileAtomic(file, html);
  return { file, bytes: Buffer.byteLength(html) };
}
