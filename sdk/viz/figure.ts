/**
 * Plotly figures as plain JSON specs ({data, layout, frames?}), built in TypeScript. Nothing here needs a DOM or
 * loads plotly.js: a spec is displayed by display.ts (tslab) or rendered by render.ts (headless Chromium).
 * Attribute names are Plotly's own, so any spec can be extended with the Plotly reference at hand.
 */

/** One Plotly trace (plain JSON, Plotly attribute names), always with its `type`. */
/** A Plotly figure spec as plain JSON ({data, layout}); render with Plotly.newPlot(div, fig.data, fig.layout). */
export interface PlotlyFigure {
  data: Record<string, unknown>[];
  layout: Record<string, unknown>;
}

export interface PlotlyTrace {
  type: string;
  [attr: string]: unknown;
}
export type PlotlyLayout = Record<string, unknown>;
/** An animation frame (the slice viewer's slider steps animate between frames). */
export interface PlotlyFrame {
  name: string;
  data: PlotlyTrace[];
  /** indices into Figure.data that `data` updates (default: 0..data.length-1) */
  traces?: number[];
  layout?: PlotlyLayout;
}
/**
 * Any Plotly figure spec: what every module's `.plot()` returns (plans, fingerprint, preprocessing, summaries build
 * theirs as plain objects). `show`, `toPNG`, ... accept it and validate it at run time.
 */
export interface FigureLike {
  data: readonly object[];
  layout?: object;
  frames?: readonly object[];
  config?: object;
}

export interface Figure {
  data: PlotlyTrace[];
  layout: PlotlyLayout;
  frames?: PlotlyFrame[];
  config?: Record<string, unknown>;
}

/** PlotlyLayout options shared by the chart builders. `layout` is merged last (shallowly) and wins. */
export interface ChartOptions {
  title?: string;
  xTitle?: string;
  yTitle?: string;
  width?: number;
  height?: number;
  logY?: boolean;
  showLegend?: boolean;
  layout?: PlotlyLayout;
}

/** A named series of values; `x` defaults to 0..n-1 (or to category labels for bars). */
export interface ChartSeries {
  name?: string;
  x?: ArrayLike<number | string>;
  y: ArrayLike<number>;
  color?: string;
  dash?: 'solid' | 'dot' | 'dash' | 'longdash' | 'dashdot';
}

/** A named group of samples (box plots, histograms). */
export interface ChartSample {
  name: string;
  values: ArrayLike<number>;
  color?: string;
}

/** Plotly's default colorway (D3 category10), so multi-figure notebooks colour series consistently. */
export const COLORWAY = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];

/**
 * JSON-safe plain array: typed arrays become number[] (JSON.stringify would turn them into {"0":..} objects) and
 * NaN / ±Infinity become null, which Plotly draws as a gap.
 */
export function toPlain<T extends number | string>(a: ArrayLike<T>): (T | null)[] {
  const out = new Array<T | null>(a.length);
  for (let i = 0; i < a.length; i++) {
    const v = a[i];
    out[i] = typeof v === 'number' && !Number.isFinite(v) ? null : v;
  }
  return out;
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

/** Base layout from ChartOptions (title, axis titles, size, legend), then `extra`, then opts.layout. */
export function chartLayout(opts: ChartOptions = {}, extra: PlotlyLayout = {}): PlotlyLayout {
  const layout: PlotlyLayout = {
    margin: { l: 60, r: 30, t: opts.title ? 50 : 20, b: 50 },
    xaxis: { title: { text: opts.xTitle ?? '' }, automargin: true },
    yaxis: { title: { text: opts.yTitle ?? '' }, automargin: true, ...(opts.logY ? { type: 'log' } : {}) },
    ...extra,
  };
  if (opts.title) layout.title = { text: opts.title };
  if (opts.width) layout.width = opts.width;
  if (opts.height) layout.height = opts.height;
  if (opts.showLegend !== undefined) layout.showlegend = opts.showLegend;
  return { ...layout, ...(opts.layout ?? {}) };
}

function asList<T>(x: T | T[]): T[] {
  return Array.isArray(x) ? x : [x];
}

/** Bar chart: one trace per series (grouped by default; `barmode: 'stack'` stacks). */
export function barChart(
  series: ChartSeries | ChartSeries[],
  opts: ChartOptions & { barmode?: 'group' | 'stack' | 'overlay' | 'relative'; horizontal?: boolean } = {},
): Figure {
  const list = asList(series);
  const data: PlotlyTrace[] = list.map((s, i) => {
    const cat = s.x ? toPlain(s.x) : range(s.y.length);
    const val = toPlain(s.y);
    return {
      type: 'bar',
      name: s.name ?? `series ${i}`,
      ...(opts.horizontal ? { x: val, y: cat, orientation: 'h' } : { x: cat, y: val }),
      marker: { color: s.color ?? COLORWAY[i % COLORWAY.length] },
    };
  });
  return { data, layout: chartLayout(opts, { barmode: opts.barmode ?? 'group', showlegend: list.length > 1 }) };
}

/** Line chart: one scatter trace per series. */
export function lineChart(
  series: ChartSeries | ChartSeries[],
  opts: ChartOptions & { mode?: 'lines' | 'markers' | 'lines+markers' } = {},
): Figure {
  const list = asList(series);
  const data: PlotlyTrace[] = list.map((s, i) => ({
    type: 'scatter',
    mode: opts.mode ?? 'lines',
    name: s.name ?? `series ${i}`,
    x: s.x ? toPlain(s.x) : range(s.y.length),
    y: toPlain(s.y),
    line: { color: s.color ?? COLORWAY[i % COLORWAY.length], dash: s.dash ?? 'solid' },
  }));
  return { data, layout: chartLayout(opts, { showlegend: list.length > 1 }) };
}

/** Box plot: one box per sample; `points: 'all'` draws every value beside its box. Non-finite values are dropped. */
export function boxPlot(
  samples: ChartSample | ChartSample[],
  opts: ChartOptions & { points?: 'all' | 'outliers' | false; showMean?: boolean } = {},
): Figure {
  const list = asList(samples);
  const data: PlotlyTrace[] = list.map((s, i) => ({
    type: 'box',
    name: s.name,
    y: Array.from(s.values).filter((v) => Number.isFinite(v)),
    boxpoints: opts.points ?? 'all',
    jitter: 0.3,
    pointpos: -1.6,
    boxmean: opts.showMean ?? true,
    marker: { color: s.color ?? COLORWAY[i % COLORWAY.length] },
  }));
  return { data, layout: chartLayout(opts, { showlegend: false }) };
}

/** Histogram of one or more samples (overlaid, semi-transparent). Non-finite values are dropped. */
export function histogramChart(
  samples: ChartSample | ChartSample[] | ArrayLike<number>,
  opts: ChartOptions & { nbins?: number; histnorm?: '' | 'percent' | 'probability' | 'density' | 'probability density' } = {},
): Figure {
  const list: ChartSample[] = isSampleInput(samples) ? asList(samples) : [{ name: 'values', values: samples }];
  const data: PlotlyTrace[] = list.map((s, i) => ({
    type: 'histogram',
    name: s.name,
    x: Array.from(s.values).filter((v) => Number.isFinite(v)),
    ...(opts.nbins ? { nbinsx: opts.nbins } : {}),
    histnorm: opts.histnorm ?? '',
    opacity: list.length > 1 ? 0.6 : 1,
    marker: { color: s.color ?? COLORWAY[i % COLORWAY.length] },
  }));
  return { data, layout: chartLayout(opts, { barmode: 'overlay', showlegend: list.length > 1 }) };
}

function isSampleInput(x: ChartSample | ChartSample[] | ArrayLike<number>): x is ChartSample | ChartSample[] {
  if (Array.isArray(x)) return x.length > 0 && typeof x[0] === 'object' && x[0] !== null;
  return typeof x === 'object' && x !== null && 'values' in x;
}

/** A 2D matrix either as rows (number[][]) or as a C-order typed array with its [rows, cols] shape. */
export type ChartMatrix = ArrayLike<number>[] | { data: ArrayLike<number>; shape: readonly [number, number] };

export function matrixRows(m: ChartMatrix): (number | null)[][] {
  if (Array.isArray(m)) return m.map((r) => toPlain(r));
  const { data, shape } = m as { data: ArrayLike<number>; shape: readonly [number, number] };
  const [rows, cols] = shape;
  if (data.length !== rows * cols) {
    throw new Error(`heatmap: data has ${data.length} values but shape ${rows}x${cols} needs ${rows * cols}`);
  }
  const out: (number | null)[][] = [];
  for (let r = 0; r < rows; r++) out.push(toPlain(Array.prototype.slice.call(data, r * cols, (r + 1) * cols) as number[]));
  return out;
}

/** Heatmap of a matrix (row 0 at the top); `annotate` prints each value in its cell (for small matrices). */
export function heatmapChart(
  z: ChartMatrix,
  opts: ChartOptions & {
    x?: ArrayLike<number | string>;
    y?: ArrayLike<number | string>;
    colorscale?: string | [number, string][];
    zmin?: number;
    zmax?: number;
    annotate?: boolean | string;
    showScale?: boolean;
  } = {},
): Figure {
  const rows = matrixRows(z);
  const trace: PlotlyTrace = {
    type: 'heatmap',
    z: rows,
    colorscale: opts.colorscale ?? 'Viridis',
    showscale: opts.showScale ?? true,
  };
  if (opts.x) trace.x = toPlain(opts.x);
  if (opts.y) trace.y = toPlain(opts.y);
  if (opts.zmin !== undefined) trace.zmin = opts.zmin;
  if (opts.zmax !== undefined) trace.zmax = opts.zmax;
  if (opts.annotate) trace.texttemplate = typeof opts.annotate === 'string' ? opts.annotate : '%{z:.4~g}';
  const layout = chartLayout(opts);
  layout.yaxis = { ...(layout.yaxis as PlotlyLayout), autorange: 'reversed' };
  return { data: [trace], layout };
}

function isArrayish(v: unknown): v is ArrayLike<unknown> {
  return Array.isArray(v) || ArrayBuffer.isView(v);
}

/**
 * Structural checks of a spec that Plotly itself would not report (it silently draws nothing): x/y lengths,
 * rectangular heatmap z, typed arrays (not JSON-safe), frame names and slider steps that point at frames.
 * Returns the problems found (empty: valid). Plotly's own attribute validation runs in render.ts (validate()).
 */
export function figureProblems(figure: FigureLike): string[] {
  const fig = figure as Figure;
  const problems: string[] = [];
  if (!fig || !Array.isArray(fig.data)) return ['figure.data must be an array of traces'];
  if (typeof fig.layout !== 'object' || fig.layout === null) problems.push('figure.layout must be an object');
  const checkTrace = (t: PlotlyTrace, where: string) => {
    if (typeof t.type !== 'string' || !t.type) problems.push(`${where}: trace has no type`);
    for (const [k, v] of Object.entries(t)) {
      if (ArrayBuffer.isView(v)) problems.push(`${where}.${k}: typed array (not JSON-safe; use toPlain)`);
    }
    if (isArrayish(t.x) && isArrayish(t.y) && t.type !== 'heatmap' && t.type !== 'contour' && t.x.length !== t.y.length) {
      problems.push(`${where}: x has ${t.x.length} values but y has ${t.y.length}`);
    }
    if (t.type === 'heatmap' || t.type === 'contour') {
      if (!Array.isArray(t.z) || t.z.length === 0) problems.push(`${where}: ${t.type} needs a non-empty z (rows)`);
      else {
        const cols = (t.z[0] as unknown[]).length;
        if (!(t.z as unknown[][]).every((r) => Array.isArray(r) && r.length === cols)) {
          problems.push(`${where}: z rows differ in length (not rectangular)`);
        }
        if (isArrayish(t.x) && t.x.length !== cols) problems.push(`${where}: x has ${t.x.length} values for ${cols} columns`);
        if (isArrayish(t.y) && t.y.length !== t.z.length) problems.push(`${where}: y has ${t.y.length} values for ${t.z.length} rows`);
      }
    }
  };
  fig.data.forEach((t, i) => checkTrace(t, `data[${i}]`));
  const frameNames = new Set<string>();
  (fig.frames ?? []).forEach((f, i) => {
    if (typeof f.name !== 'string' || !f.name) problems.push(`frames[${i}]: no name`);
    if (frameNames.has(f.name)) problems.push(`frames[${i}]: duplicate name ${f.name}`);
    frameNames.add(f.name);
    const targets = f.traces ?? range(f.data.length);
    if (targets.length !== f.data.length) problems.push(`frames[${i}]: ${f.data.length} traces for ${targets.length} indices`);
    for (const ti of targets) {
      if (!(ti >= 0 && ti < fig.data.length)) problems.push(`frames[${i}]: trace index ${ti} out of range`);
    }
    f.data.forEach((t, j) => {
      checkTrace(t, `frames[${i}].data[${j}]`);
      const target = fig.data[targets[j]];
      if (target && t.type !== target.type) problems.push(`frames[${i}].data[${j}]: type ${t.type} animates a ${target.type}`);
    });
  });
  const sliders = (fig.layout?.sliders ?? []) as { steps?: { method?: string; args?: unknown[] }[] }[];
  sliders.forEach((s, i) => {
    (s.steps ?? []).forEach((step, j) => {
      if (step.method !== 'animate') return;
      const names = Array.isArray(step.args?.[0]) ? (step.args![0] as string[]) : [];
      if (names.length === 0) problems.push(`layout.sliders[${i}].steps[${j}]: animate step names no frame`);
      for (const n of names) if (!frameNames.has(n)) problems.push(`layout.sliders[${i}].steps[${j}]: no frame named ${n}`);
    });
  });
  return problems;
}

/** Throws (naming every problem) if figureProblems finds any. */
export function assertValidFigure(figure: FigureLike, what = 'figure'): void {
  const fig = figure as Figure;
  const p = figureProblems(fig);
  if (p.length) throw new Error(`${what} is not a valid Plotly spec:\n  ${p.join('\n  ')}`);
}
