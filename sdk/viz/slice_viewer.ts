/**
 * Slice viewer: one 2D slice of a (z, y, x) volume as a grey heatmap, the reference label and a prediction on top
 * (semi-transparent fill or contour lines), and a slider over slices (Plotly frames). Kept light for notebooks:
 * slices are subsampled to at most `maxSlicePixels`, at most `maxFrames` slices (and `maxValues` values in all)
 * get a frame, values are rounded to 4 significant digits, so a 512x512x300 CT gives a figure of about 3 MB.
 */
import { COLORWAY, Figure, PlotlyFrame, PlotlyLayout, PlotlyTrace } from './figure';

/** A volume in (z, y, x) C order; a `Volume` from sdk/io/volume fits. */
export interface SliceVolume {
  data: ArrayLike<number>;
  shape: readonly [number, number, number];
  spacing?: readonly [number, number, number];
}

export type OverlayStyle = 'fill' | 'contour';

export interface SliceViewerOptions {
  label?: SliceVolume;
  prediction?: SliceVolume;
  /** the axis the slider moves along (default 'z'): 'z' shows (y, x) planes, 'y' (z, x), 'x' (z, y) */
  axis?: 'z' | 'y' | 'x';
  /** initial slice (default: the slice with most label foreground, else the middle one) */
  index?: number;
  title?: string;
  /** overlay styles (default: label filled, prediction as contours) */
  labelStyle?: OverlayStyle;
  predictionStyle?: OverlayStyle;
  /** fill opacity (default 0.4) */
  opacity?: number;
  /** intensity window [lo, hi] (default: 0.5 and 99.5 percentiles of the shown voxels) */
  window?: [number, number];
  /** names of classes 1..K for the legend (default "class k") */
  classNames?: string[];
  /** most pixels per shown slice (default 96*96); larger slices are subsampled by an integer stride */
  maxSlicePixels?: number;
  /** most slices with a frame (default 64; evenly spaced, always including `index`) */
  maxFrames?: number;
  /** most values in all frames together (default 1e6, about 3 MB of JSON); lowers the frame count if needed */
  maxValues?: number;
  width?: number;
  height?: number;
}

const AXES = { z: 0, y: 1, x: 2 } as const;
const AXIS_NAMES = ['z', 'y', 'x'] as const;

/** The class colours of overlays (class k uses CLASS_COLORS[(k-1) % n]); red first as in ITK-SNAP. */
export const CLASS_COLORS = ['#e6194b', '#3cb44b', '#4363d8', '#ffe119', '#f58231', '#911eb4', '#42d4f4', '#f032e6'];

export function checkVolume(v: SliceVolume, what: string, shape?: readonly number[]): void {
  const [z, y, x] = v.shape;
  if (v.shape.length !== 3 || !(z > 0 && y > 0 && x > 0)) throw new Error(`sliceViewer: ${what} shape ${v.shape.join('x')} is not a 3D (z, y, x) shape`);
  if (v.data.length !== z * y * x) throw new Error(`sliceViewer: ${what} has ${v.data.length} voxels but shape ${v.shape.join('x')} needs ${z * y * x}`);
  if (shape && (shape[0] !== z || shape[1] !== y || shape[2] !== x)) {
    throw new Error(`sliceViewer: ${what} shape ${v.shape.join('x')} differs from the image shape ${shape.join('x')}`);
  }
}

/**
 * 4 significant digits, but never fewer than the integer digits (integer data such as CT HU stays exact): enough
 * for display, and the JSON of a float slice shrinks ~3x.
 */
export function round4(v: number): number | null {
  if (!Number.isFinite(v)) return null;
  if (Number.isInteger(v)) return v;
  const s = Math.pow(10, Math.max(0, 3 - Math.floor(Math.log10(Math.abs(v)))));
  return Math.round(v * s) / s;
}

export interface Plane {
  rowAxis: number;
  colAxis: number;
  rows: number; // subsampled
  cols: number;
  stride: number;
}

export function planeOf(shape: readonly number[], axis: number, maxPixels: number): Plane {
  const [rowAxis, colAxis] = [0, 1, 2].filter((a) => a !== axis);
  const r = shape[rowAxis];
  const c = shape[colAxis];
  const stride = Math.max(1, Math.ceil(Math.sqrt((r * c) / maxPixels)));
  return { rowAxis, colAxis, rows: Math.ceil(r / stride), cols: Math.ceil(c / stride), stride };
}

/** Subsampled slice `index` along `axis`: the voxel at the centre of each stride block (nearest, so labels stay labels). */
export function extractSlice(
  v: SliceVolume,
  axis: number,
  index: number,
  p: Plane,
  map: (x: number) => number | null,
): (number | null)[][] {
  const [, sy, sx] = [v.shape[0], v.shape[1], v.shape[2]];
  const strides = [sy * sx, sx, 1];
  const rFull = v.shape[p.rowAxis];
  const cFull = v.shape[p.colAxis];
  const half = Math.floor(p.stride / 2);
  const out: (number | null)[][] = new Array(p.rows);
  for (let i = 0; i < p.rows; i++) {
    const r = Math.min(i * p.stride + half, rFull - 1);
    const row = new Array<number | null>(p.cols);
    const base = index * strides[axis] + r * strides[p.rowAxis];
    for (let j = 0; j < p.cols; j++) {
      const c = Math.min(j * p.stride + half, cFull - 1);
      row[j] = map(v.data[base + c * strides[p.colAxis]]);
    }
    out[i] = row;
  }
  return out;
}

/** Slice indices that get a frame: all, or `maxFrames` evenly spaced ones with `index` swapped in. */
export function frameIndices(n: number, index: number, maxFrames: number): number[] {
  if (n <= maxFrames) return Array.from({ length: n }, (_, i) => i);
  const m = Math.max(2, maxFrames);
  const picks = new Set<number>();
  for (let i = 0; i < m; i++) picks.add(Math.round((i * (n - 1)) / (m - 1)));
  if (!picks.has(index)) {
    let nearest = -1;
    for (const p of picks) if (nearest < 0 || Math.abs(p - index) < Math.abs(nearest - index)) nearest = p;
    picks.delete(nearest);
    picks.add(index);
  }
  return [...picks].sort((a, b) => a - b);
}

/** The non-zero classes present in a label volume, ascending. */
export function presentClasses(v: SliceVolume): number[] {
  const seen = new Set<number>();
  for (let i = 0; i < v.data.length; i++) if (v.data[i] !== 0) seen.add(Math.round(v.data[i]));
  return [...seen].filter((c) => c !== 0).sort((a, b) => a - b);
}

/** Most classes drawn as smooth per-class contour lines; above this a one-trace outline heatmap is used. */
export const MAX_CONTOUR_CLASSES = 8;
/** Most classes listed in the legend. */
const MAX_LEGEND_CLASSES = 20;

/** Keeps a pixel's class only where a 4-neighbour has another class: the label's outlines, one pixel wide. */
function outline(z: (number | null)[][]): (number | null)[][] {
  const R = z.length;
  const C = R ? z[0].length : 0;
  return z.map((row, r) =>
    row.map((v, c) => {
      if (!v) return 0;
      const differs =
        (r > 0 && z[r - 1][c] !== v) || (r + 1 < R && z[r + 1][c] !== v) || (c > 0 && row[c - 1] !== v) || (c + 1 < C && row[c + 1] !== v);
      return differs ? v : 0;
    }),
  );
}

/** The slice along `axis` with most non-zero label voxels (first one on ties); -1 if the label is empty. */
export function mostForegroundSlice(label: SliceVolume, axis: 'z' | 'y' | 'x'): number {
  const a = AXES[axis];
  const [, sy, sx] = label.shape;
  const counts = new Float64Array(label.shape[a]);
  for (let i = 0; i < label.data.length; i++) {
    if (label.data[i] !== 0) {
      const idx = a === 0 ? Math.floor(i / (sy * sx)) : a === 1 ? Math.floor(i / sx) % sy : i % sx;
      counts[idx]++;
    }
  }
  let best = -1;
  for (let i = 0; i < counts.length; i++) if (counts[i] > 0 && (best < 0 || counts[i] > counts[best])) best = i;
  return best;
}

/** Percentiles (linear interpolation, as numpy) of a sample of at most ~200k finite voxels. */
export function windowOf(data: ArrayLike<number>, lo: number, hi: number): [number, number] {
  const step = Math.max(1, Math.floor(data.length / 200000));
  const vals: number[] = [];
  for (let i = 0; i < data.length; i += step) if (Number.isFinite(data[i])) vals.push(data[i]);
  if (vals.length === 0) return [0, 1];
  const s = Float64Array.from(vals).sort();
  const q = (p: number) => {
    const pos = (p / 100) * (s.length - 1);
    const f = Math.floor(pos);
    return f + 1 < s.length ? s[f] + (pos - f) * (s[f + 1] - s[f]) : s[f];
  };
  const a = q(lo);
  const b = q(hi);
  return b > a ? [a, b] : [a, a + 1];
}

/**
 * Discrete colorscale for classes 0..K over z in [-0.5, K+0.5], one flat band per class; class 0 (background) is
 * fully transparent, so a filled overlay can carry 0 instead of null (2 bytes of JSON instead of 5 per voxel).
 */
function classColorscale(k: number): [number, string][] {
  const cs: [number, string][] = [
    [0, 'rgba(0,0,0,0)'],
    [1 / (k + 1), 'rgba(0,0,0,0)'],
  ];
  for (let c = 1; c <= k; c++) {
    const col = CLASS_COLORS[(c - 1) % CLASS_COLORS.length];
    cs.push([c / (k + 1), col], [(c + 1) / (k + 1), col]);
  }
  return cs;
}

/** One shown 2D layer: its trace template and how voxels map to z values. */
interface Layer {
  trace: PlotlyTrace;
  v: SliceVolume;
  map: (x: number) => number | null;
  post?: (z: (number | null)[][]) => (number | null)[][];
}

/**
 * Overlay layers. 'fill': one heatmap of class values (background transparent). 'contour': one contour trace per
 * present class c over the mask (label == c), so a boundary is drawn in the colour of the class it encloses (a
 * single contour trace over the label values would draw a 0|2 boundary with both the 0.5 and the 1.5 level); with
 * more than MAX_CONTOUR_CLASSES classes (multi-organ maps) one heatmap of the 1-pixel outlines instead.
 */
function overlayLayers(
  v: SliceVolume,
  style: OverlayStyle,
  k: number,
  present: number[],
  opacity: number,
  name: string,
  dx: number,
  dy: number,
): Layer[] {
  const geo = { dx, dy, x0: 0, y0: 0, hoverinfo: 'skip' };
  const heat = { type: 'heatmap', name, ...geo, showscale: false, zmin: -0.5, zmax: k + 0.5, colorscale: classColorscale(k) };
  if (style === 'fill') return [{ trace: { ...heat, opacity }, v, map: Math.round }];
  if (present.length > MAX_CONTOUR_CLASSES) return [{ trace: heat, v, map: Math.round, post: outline }];
  // class with the highest value first, lowest last (on top): where class 1 borders class 2 the line is class 1's
  return [...present].reverse().map((c) => ({
    trace: {
      type: 'contour',
      name: `${name} ${c}`,
      ...geo,
      autocontour: false,
      contours: { coloring: 'none', start: 0.5, end: 0.5, size: 1, showlabels: false },
      line: { color: CLASS_COLORS[(c - 1) % CLASS_COLORS.length], width: 2 },
      showlegend: false,
    },
    v,
    map: (x: number) => (Math.round(x) === c ? 1 : 0),
  }));
}

/**
 * Slice viewer figure of `volume` with optional `label` / `prediction` overlays and a slider over slices.
 * Axes are in mm (spacing x stride), equal aspect; row 0 of the array is at the top (array view, not a radiological
 * orientation). Throws naming the input if shapes disagree.
 */
export function sliceViewer(volume: SliceVolume, opts: SliceViewerOptions = {}): Figure {
  checkVolume(volume, 'volume');
  if (opts.label) checkVolume(opts.label, 'label', volume.shape);
  if (opts.prediction) checkVolume(opts.prediction, 'prediction', volume.shape);
  const axisName = opts.axis ?? 'z';
  const axis = AXES[axisName];
  if (axis === undefined) throw new Error(`sliceViewer: axis must be 'z', 'y' or 'x', got ${String(opts.axis)}`);
  const n = volume.shape[axis];
  let index = opts.index;
  if (index === undefined) {
    const fg = opts.label ? mostForegroundSlice(opts.label, axisName) : -1;
    index = fg >= 0 ? fg : Math.floor(n / 2);
  }
  if (!Number.isInteger(index) || index < 0 || index >= n) {
    throw new Error(`sliceViewer: index ${index} is outside 0..${n - 1} along ${axisName}`);
  }
  const plane = planeOf(volume.shape, axis, opts.maxSlicePixels ?? 96 * 96);
  const spacing = volume.spacing ?? [1, 1, 1];
  const dy = spacing[plane.rowAxis] * plane.stride;
  const dx = spacing[plane.colAxis] * plane.stride;
  const labelClasses = opts.label ? presentClasses(opts.label) : [];
  const predClasses = opts.prediction ? presentClasses(opts.prediction) : [];
  const allClasses = [...new Set([...labelClasses, ...predClasses])].sort((a, b) => a - b);
  // colours cover classes 1..k (at least 1 so an empty label still gets a valid colorscale)
  const k = Math.max(1, ...allClasses);
  const layersOf = (style: OverlayStyle, present: number[]) => (style === 'fill' || present.length > MAX_CONTOUR_CLASSES ? 1 : present.length);
  const labelStyle = opts.labelStyle ?? 'fill';
  const predictionStyle = opts.predictionStyle ?? 'contour';
  const nTraces = 1 + (opts.label ? layersOf(labelStyle, labelClasses) : 0) + (opts.prediction ? layersOf(predictionStyle, predClasses) : 0);
  const byBudget = Math.floor((opts.maxValues ?? 1e6) / (plane.rows * plane.cols * nTraces));
  const slices = frameIndices(n, index, Math.max(1, Math.min(opts.maxFrames ?? 64, byBudget)));
  const [lo, hi] = opts.window ?? windowOf(volume.data, 0.5, 99.5);
  const opacity = opts.opacity ?? 0.4;

  const layers: Layer[] = [
    {
      trace: {
        type: 'heatmap',
        name: 'image',
        dx,
        dy,
        x0: 0,
        y0: 0,
        zmin: lo,
        zmax: hi,
        colorscale: [
          [0, '#000000'],
          [1, '#ffffff'],
        ],
        showscale: false,
        hovertemplate: 'x %{x:.1f} mm, y %{y:.1f} mm: %{z}<extra></extra>',
      },
      v: volume,
      map: round4,
    },
  ];
  const overlays: { name: string; style: OverlayStyle }[] = [];
  if (opts.label) {
    overlays.push({ name: 'label', style: labelStyle });
    layers.push(...overlayLayers(opts.label, labelStyle, k, labelClasses, opacity, 'label', dx, dy));
  }
  if (opts.prediction) {
    overlays.push({ name: 'prediction', style: predictionStyle });
    layers.push(...overlayLayers(opts.prediction, predictionStyle, k, predClasses, opacity, 'prediction', dx, dy));
  }
  const zOf = (s: number): (number | null)[][][] =>
    layers.map((l) => {
      const z = extractSlice(l.v, axis, s, plane, l.map);
      return l.post ? l.post(z) : z;
    });

  const traceIdx = layers.map((_, i) => i);
  const frames: PlotlyFrame[] = slices.map((s) => ({
    name: String(s),
    traces: traceIdx,
    data: zOf(s).map((z, i) => ({ type: layers[i].trace.type, z })),
  }));
  const initial = zOf(index);
  const data: PlotlyTrace[] = layers.map((l, i) => ({ ...l.trace, z: initial[i] }));

  // legend: one marker per present class (heatmaps and contours have no useful entries of their own)
  const legendClasses = allClasses.length <= MAX_LEGEND_CLASSES ? allClasses : [];
  for (const c of legendClasses) {
    const name = opts.classNames?.[c - 1] ?? `class ${c}`;
    data.push({
      type: 'scatter',
      x: [null],
      y: [null],
      mode: 'markers',
      marker: { color: CLASS_COLORS[(c - 1) % CLASS_COLORS.length], size: 10, symbol: 'square' },
      name,
      showlegend: true,
      hoverinfo: 'skip',
    });
  }
  const styleNote = overlays.length ? ` (${overlays.map((o) => `${o.name}: ${o.style}`).join(', ')})` : '';
  const rowName = AXIS_NAMES[plane.rowAxis];
  const colName = AXIS_NAMES[plane.colAxis];
  const layout: PlotlyLayout = {
    title: { text: (opts.title ?? `slice along ${axisName}`) + styleNote },
    width: opts.width ?? 640,
    height: opts.height ?? 640,
    margin: { l: 60, r: 20, t: 80, b: 40 },
    xaxis: { title: { text: `${colName} (mm)` }, constrain: 'domain', showgrid: false, zeroline: false },
    yaxis: { title: { text: `${rowName} (mm)` }, autorange: 'reversed', scaleanchor: 'x', scaleratio: 1, constrain: 'domain', showgrid: false, zeroline: false },
    showlegend: legendClasses.length > 0,
    legend: { orientation: 'h', x: 1, xanchor: 'right', y: 1.01, yanchor: 'bottom' },
    plot_bgcolor: '#000000',
    sliders: [
      {
        active: slices.indexOf(index),
        pad: { t: 40 },
        currentvalue: { prefix: `${axisName} = `, visible: true },
        steps: slices.map((s) => ({
          label: String(s),
          method: 'animate',
          args: [[String(s)], { mode: 'immediate', frame: { duration: 0, redraw: true }, transition: { duration: 0 } }],
        })),
      },
    ],
  };
  if (plane.stride > 1) {
    (layout.title as PlotlyLayout).text += ` [subsampled 1:${plane.stride}]`;
  }
  return { data, layout, frames };
}
