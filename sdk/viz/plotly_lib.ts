/**
 * plotly.js (the plotly.js-dist bundle, ~10 MB, needs a DOM) as text, read once per process and only on first use,
 * plus the HTML snippet that draws one figure. Shared by display.ts (tslab) and render.ts (Chromium, HTML files).
 */
import * as fs from 'fs';
import { Figure, FigureLike } from './figure';

let lib: string | null = null;

/** The plotly.js bundle source, safe to inline in a <script> element. */
export function plotlyLibrary(): string {
  if (lib === null) {
    const file = require.resolve('plotly.js-dist/plotly.js');
    // a literal "</script" inside an inline script would end the element; "<\/script" is the same JS text
    lib = fs.readFileSync(file, 'utf8').replace(/<\/script/gi, '<\\/script');
  }
  return lib;
}

/** The bundled plotly.js version (for HTML exports and reports). */
export function plotlyVersion(): string {
  return (require('plotly.js-dist/package.json') as { version: string }).version;
}

let counter = 0;

/** JSON that can sit inside <script> ("<" escaped, which JSON and JS read back unchanged). */
export function scriptJSON(v: unknown): string {
  return JSON.stringify(v).replace(/</g, '\\u003c');
}

/**
 * A <div> plus a small script that draws `fig` with the page's Plotly (loaded once by display.ts or inlined by
 * toHTML). If Plotly is not there yet it retries for 10 s, then says how to fix it in the div.
 */
export function figureSnippet(figure: FigureLike, opts: { id?: string; config?: Record<string, unknown> } = {}): string {
  const fig = figure as Figure;
  const id = opts.id ?? `nnunet-ts-fig-${process.pid.toString(36)}-${Date.now().toString(36)}-${(counter++).toString(36)}`;
  const height = typeof fig.layout.height === 'number' ? fig.layout.height : 450;
  const width = typeof fig.layout.width === 'number' ? `width:${fig.layout.width}px;` : '';
  const spec = { data: fig.data, layout: fig.layout, frames: fig.frames ?? [], config: { displaylogo: false, responsive: true, ...(fig.config ?? {}), ...(opts.config ?? {}) } };
  return (
    `<div id="${id}" class="nnunet-ts-figure" style="${width}height:${height}px"></div>\n` +
    `<script type="text/javascript">(function () {\n` +
    `  var fig = ${scriptJSON(spec)};\n` +
    `  var tries = 0;\n` +
    `  function draw() {\n` +
    `    var el = document.getElementById(${JSON.stringify(id)});\n` +
    `    if (!el) return;\n` +
    `    if (!window.Plotly) {\n` +
    `      if (++tries < 100) { setTimeout(draw, 100); return; }\n` +
    `      el.textContent = "plotly.js is not loaded in this page: call loadPlotly() (nnunet-ts) in a cell, or restart the kernel and run all";\n` +
    `      return;\n` +
    `    }\n` +
    `    window.Plotly.newPlot(el, fig);\n` +
    `  }\n` +
    `  draw();\n` +
    `})();</script>`
  );
}
