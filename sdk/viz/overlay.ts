/**
 * A prediction over its ground truth: every voxel of the shown slices coloured by its outcome (true positive, false
 * positive, false negative, wrong foreground class) on the grey image, one panel per plane (axial / coronal /
 * sagittal in array view: slices along z / y / x), with a legend that counts each outcome over the whole volume and
 * the volume's Dice in the title. Deterministic: the same inputs give the same spec.
 */
import { Figure, PlotlyLayout, PlotlyTrace } from './figure';
import { extractSlice, planeOf, round4, SliceVolume, windowOf } from './slice_viewer';

export type OverlayPlane = 'axial' | 'coronal' | 'sagittal';

export interface OverlayFigureOptions {
  /** 'axial' (default: one slice along z), 'all' (axial, coronal, sagittal), or a list */
  planes?: OverlayPlane | 'all' | OverlayPlane[];
  /**
   * Slice index: a number for the first shown plane, or per axis {z, y, x}. Default per axis: the slice with the
   * most reference foreground (so the cut goes through the structure), else the one with most predicted foreground,
   * else the middle one.
   */
  slice?: number | { z?: number; y?: number; x?: number };
  /** Labels that count as foreground (default: every non-zero label). One label gives that class's binary view. */
  classes?: number[];
  title?: string;
  /** Intensity window [lo, hi] (default: 0.5 and 99.5 percentiles of the image). */
  window?: [number, number];
  /** Opacity of the outcome colours (default 0.6). */
  opacity?: number;
  /** Most pixels per panel (default 128*128); larger slices are subsampled (nearest voxel, so outcomes stay exact). */
  maxSlicePixels?: number;
  /** Panel size in CSS pixels (default 340). */
  panelSize?: number;
}

/** Outcome codes of overlayOutcomes. */
export const OUTCOME = { none: 0, tp: 1, fp: 2, fn: 3, wrongClass: 4 } as const;
/** Outcome colours: green hits, red false positives, blue false negatives, amber foreground of the wrong class. */
export const OUTCOME_COLORS = ['rgba(0,0,0,0)', '#2ca02c', '#d62728', '#1f77b4', '#ffbf00'] as const;
export const OUTCOME_NAMES = ['', 'true positive', 'false positive', 'false negative', 'wrong class'] as const;

export interface OverlayCounts {
  tp: number;
  fp: number;
  fn: number;
  wrongClass: number;
  /** 2·TP / (2·TP + FP + FN), a wrong-class voxel counting as both FP and FN; NaN when both are empty. */
  dice: number;
}

/**
 * Per voxel outcome code (OUTCOME): tp where both are the same foreground class, fp where only the prediction is
 * foreground, fn where only the reference is, wrongClass where both are foreground but differ.
 */
export function overlayOutcomes(
  prediction: ArrayLike<number>,
  reference: ArrayLike<number>,
  classes?: number[],
): { codes: Uint8Array; counts: OverlayCounts } {
  if (prediction.length !== reference.length) {
    throw new Error(`overlayOutcomes: prediction has ${prediction.length} voxels, reference ${reference.length}`);
  }
  const set = classes ? new Set(classes) : null;
  const fg = (v: number) => (set ? set.has(v) : v !== 0);
  const codes = new Uint8Array(prediction.length);
  let tp = 0;
  let fp = 0;
  let fn = 0;
  let wrong = 0;
  for (let i = 0; i < codes.length; i++) {
    const p = Math.round(prediction[i]);
    const r = Math.round(reference[i]);
    const pf = fg(p);
    const rf = fg(r);
    if (pf && rf) {
      if (p === r) {
        codes[i] = OUTCOME.tp;
        tp++;
      } else {
        codes[i] = OUTCOME.wrongClass;
        wrong++;
      }
    } else if (pf) {
      codes[i] = OUTCOME.fp;
      fp++;
    } else if (rf) {
      codes[i] = OUTCOME.fn;
      fn++;
    }
  }
  const denom = 2 * tp + fp + fn + 2 * wrong;
  return { codes, counts: { tp, fp, fn, wrongClass: wrong, dice: denom === 0 ? NaN : (2 * tp) / denom } };
}

const PLANE_AXIS: Record<OverlayPlane, 0 | 1 | 2> = { axial: 0, coronal: 1, sagittal: 2 };
const AXIS_NAMES = ['z', 'y', 'x'] as const;

function checkShape(v: SliceVolume, what: string, shape?: readonly number[]): void {
  const [z, y, x] = v.shape;
  if (v.shape.length !== 3 || !(z > 0 && y > 0 && x > 0)) throw new Error(`overlayFigure: ${what} shape ${v.shape.join('x')} is not a 3D (z, y, x) shape`);
  if (v.data.length !== z * y * x) throw new Error(`overlayFigure: ${what} has ${v.data.length} voxels but shape ${v.shape.join('x')} needs ${z * y * x}`);
  if (shape && (shape[0] !== z || shape[1] !== y || shape[2] !== x)) {
    throw new Error(`overlayFigure: ${what} shape ${v.shape.join('x')} differs from the image shape ${shape.join('x')}`);
  }
}

/** Per axis, the index with most codes that `count` accepts (first on ties); -1 when there are none. */
function busiestSlice(codes: Uint8Array, shape: readonly number[], axis: number, count: (code: number) => boolean): number {
  const [, sy, sx] = shape;
  const counts = new Float64Array(shape[axis]);
  for (let i = 0; i < codes.length; i++) {
    if (!count(codes[i])) continue;
    counts[axis === 0 ? Math.floor(i / (sy * sx)) : axis === 1 ? Math.floor(i / sx) % sy : i % sx]++;
  }
  let best = -1;
  for (let i = 0; i < counts.length; i++) if (counts[i] > 0 && (best < 0 || counts[i] > counts[best])) best = i;
  return best;
}

function fmt(v: number): string {
  return Number.isFinite(v) ? v.toFixed(3) : 'NaN';
}

/**
 * The prediction over the reference on the image: outcome colours per voxel, one panel per plane. `image`,
 * `prediction` and `reference` are (z, y, x) volumes of one shape (a `Volume` from readNifti fits); axes in mm.
 * @example show(overlayFigure(image, seg, label, { planes: 'all', classes: [1] }))
 */
export function overlayFigure(image: SliceVolume, prediction: SliceVolume, reference: SliceVolume, opts: OverlayFigureOptions = {}): Figure {
  checkShape(image, 'image');
  checkShape(prediction, 'prediction', image.shape);
  checkShape(reference, 'reference', image.shape);
  const planes: OverlayPlane[] =
    opts.planes === 'all' ? ['axial', 'coronal', 'sagittal'] : Array.isArray(opts.planes) ? opts.planes : [opts.planes ?? 'axial'];
  if (planes.length === 0) throw new Error('overlayFigure: no plane to show');
  for (const p of planes) if (!(p in PLANE_AXIS)) throw new Error(`overlayFigure: unknown plane ${String(p)} (axial, coronal, sagittal or 'all')`);
  const { codes, counts } = overlayOutcomes(prediction.data, reference.data, opts.classes);
  const codeVolume: SliceVolume = { data: codes, shape: image.shape };
  const [lo, hi] = opts.window ?? windowOf(image.data, 0.5, 99.5);
  const spacing = image.spacing ?? [1, 1, 1];
  const size = opts.panelSize ?? 340;
  const opacity = opts.opacity ?? 0.6;
  const gap = 0.08;
  const n = planes.length;
  const w = (1 - gap * (n - 1)) / n;
  const data: PlotlyTrace[] = [];
  const layout: PlotlyLayout = {};
  const annotations: Record<string, unknown>[] = [];
  const colorscale: [number, string][] = [];
  OUTCOME_COLORS.forEach((c, k) => colorscale.push([k / OUTCOME_COLORS.length, c], [(k + 1) / OUTCOME_COLORS.length, c]));
  planes.forEach((plane, i) => {
    const axis = PLANE_AXIS[plane];
    const axisName = AXIS_NAMES[axis];
    let index: number | undefined = typeof opts.slice === 'number' ? (i === 0 ? opts.slice : undefined) : opts.slice?.[axisName];
    if (index === undefined) {
      // through the structure: most reference foreground, else most predicted foreground, else the middle
      const r = busiestSlice(codes, image.shape, axis, (c) => c === OUTCOME.tp || c === OUTCOME.fn || c === OUTCOME.wrongClass);
      const b = r >= 0 ? r : busiestSlice(codes, image.shape, axis, (c) => c !== OUTCOME.none);
      index = b >= 0 ? b : Math.floor(image.shape[axis] / 2);
    }
    if (!Number.isInteger(index) || index < 0 || index >= image.shape[axis]) {
      throw new Error(`overlayFigure: slice ${index} is outside 0..${image.shape[axis] - 1} along ${axisName}`);
    }
    const p = planeOf(image.shape, axis, opts.maxSlicePixels ?? 128 * 128);
    const dy = spacing[p.rowAxis] * p.stride;
    const dx = spacing[p.colAxis] * p.stride;
    const xa = i === 0 ? 'x' : `x${i + 1}`;
    const ya = i === 0 ? 'y' : `y${i + 1}`;
    const geo = { dx, dy, x0: 0, y0: 0, xaxis: xa, yaxis: ya, showscale: false };
    data.push({
      type: 'heatmap',
      name: `${plane} image`,
      ...geo,
      z: extractSlice(image, axis, index, p, round4),
      zmin: lo,
      zmax: hi,
      colorscale: [
        [0, '#000000'],
        [1, '#ffffff'],
      ],
      hoverinfo: 'skip',
    });
    data.push({
      type: 'heatmap',
      name: `${plane} outcome`,
      ...geo,
      z: extractSlice(codeVolume, axis, index, p, (v) => v),
      zmin: -0.5,
      zmax: OUTCOME_COLORS.length - 0.5,
      colorscale,
      opacity,
      hoverinfo: 'skip',
    });
    const x0 = i * (w + gap);
    const suffix = i === 0 ? '' : String(i + 1);
    layout[`xaxis${suffix}`] = {
      domain: [x0, x0 + w],
      title: { text: `${AXIS_NAMES[p.colAxis]} (mm)` },
      showgrid: false,
      zeroline: false,
      constrain: 'domain',
    };
    layout[`yaxis${suffix}`] = {
      anchor: xa,
      title: { text: `${AXIS_NAMES[p.rowAxis]} (mm)` },
      autorange: 'reversed',
      scaleanchor: xa,
      scaleratio: 1,
      showgrid: false,
      zeroline: false,
      constrain: 'domain',
    };
    annotations.push({
      text: `${plane} (${axisName} = ${index})${p.stride > 1 ? ` 1:${p.stride}` : ''}`,
      x: x0 + w / 2,
      y: 1,
      xref: 'paper',
      yref: 'paper',
      xanchor: 'center',
      yanchor: 'bottom',
      showarrow: false,
    });
  });
  const countOf = [0, counts.tp, counts.fp, counts.fn, counts.wrongClass];
  for (let k = 1; k < OUTCOME_COLORS.length; k++) {
    if (k === OUTCOME.wrongClass && counts.wrongClass === 0) continue;
    data.push({
      type: 'scatter',
      x: [null],
      y: [null],
      mode: 'markers',
      marker: { color: OUTCOME_COLORS[k], size: 12, symbol: 'square' },
      name: `${OUTCOME_NAMES[k]} (${countOf[k].toLocaleString('en')} voxels)`,
      showlegend: true,
      hoverinfo: 'skip',
    });
  }
  const classNote = opts.classes ? ` of label${opts.classes.length > 1 ? 's' : ''} ${opts.classes.join(', ')}` : '';
  return {
    data,
    layout: {
      ...layout,
      title: { text: `${opts.title ?? 'prediction over reference'}: Dice${classNote} ${fmt(counts.dice)} (whole volume)` },
      width: Math.max(560, Math.round(size * n + 80)), // room for the title with one small panel
      height: size + 170,
      margin: { l: 60, r: 20, t: 90, b: 80 },
      annotations,
      showlegend: true,
      legend: { orientation: 'h', x: 0, y: -0.2, yanchor: 'top' },
      plot_bgcolor: '#000000',
    },
  };
}
