/**
 * The Generic U-Net of one configuration drawn from its plans: encoder stages down the left, decoder stages up the
 * right, the bottleneck at the bottom, one box per stage with its feature-map size (z, y, x) at the plans patch, its
 * features, kernel and stride; skip connections across, and the deep-supervision heads (1x1 conv to the classes)
 * with their loss weights. Plain Plotly shapes and annotations, so it renders anywhere a figure does.
 */
import { Figure, PlotlyLayout, PlotlyTrace } from './figure';

/** What the diagram needs of a network summary (`plans.network(name)` returns it). */
export interface UNetDiagramInput {
  configuration?: string;
  num_stages: number;
  features_per_stage: number[];
  conv_kernel_sizes: number[][];
  strides: number[][];
  feature_map_sizes: number[][];
  n_conv_per_stage_encoder?: number[];
  n_conv_per_stage_decoder?: number[];
  parameterCount?: number;
}

export interface UNetDiagramOptions {
  title?: string;
  /** number of output classes incl. background (shown on the heads; default: not shown) */
  numClasses?: number;
  /** draw the deep-supervision heads (default true) */
  deepSupervision?: boolean;
  width?: number;
  height?: number;
}

/**
 * nnU-Net v1's deep-supervision loss weights for `n` outputs (highest resolution first): 1/2^i, the lowest
 * resolution 0, normalised to sum 1. The same rule as training's deepSupervisionWeights (kept here so sdk/viz does
 * not load tfjs).
 */
export function dsWeights(n: number): number[] {
  const w = Array.from({ length: n }, (_, i) => (i < n - 1 ? 1 / 2 ** i : 0));
  const s = w.reduce((a, b) => a + b, 0);
  return s === 0 ? [1] : w.map((v) => v / s);
}

const ENC = '#4c78a8';
const DEC = '#f58518';
const BOTTOM = '#54a24b';
const HEAD = '#b279a2';

const x = (v: number[]) => v.join('×');

/**
 * Diagram of the U-Net described by `net` (e.g. `plans.network('3d_fullres')`). Stage s of the encoder sits at
 * column s, row s; decoder stage s at column 2(S−1)−s, row s; the bottleneck (stage S−1) at the bottom. Throws if
 * the per-stage lists disagree in length.
 */
export function unetDiagram(net: UNetDiagramInput, opts: UNetDiagramOptions = {}): Figure {
  const S = net.num_stages;
  for (const [k, v] of Object.entries({
    features_per_stage: net.features_per_stage,
    conv_kernel_sizes: net.conv_kernel_sizes,
    strides: net.strides,
    feature_map_sizes: net.feature_map_sizes,
  })) {
    if (!Array.isArray(v) || v.length !== S) throw new Error(`unetDiagram: ${k} has ${v?.length} entries for ${S} stages`);
  }
  if (!(S >= 1)) throw new Error(`unetDiagram: num_stages must be at least 1, got ${S}`);
  const bw = 0.84;
  const bh = 0.62;
  const shapes: Record<string, unknown>[] = [];
  const annotations: Record<string, unknown>[] = [];
  const hover: { x: number[]; y: number[]; text: string[] } = { x: [], y: [], text: [] };
  const box = (cx: number, cy: number, color: string, lines: string[], hoverText: string) => {
    shapes.push({ type: 'rect', x0: cx - bw / 2, x1: cx + bw / 2, y0: cy - bh / 2, y1: cy + bh / 2, line: { color, width: 2 }, fillcolor: color, opacity: 0.85, layer: 'below' });
    annotations.push({ x: cx, y: cy, text: lines.join('<br>'), showarrow: false, font: { size: 10, color: '#ffffff' } });
    hover.x.push(cx);
    hover.y.push(cy);
    hover.text.push(hoverText);
  };
  const arrow = (x0: number, y0: number, x1: number, y1: number, text: string, color: string, dash = false) => {
    annotations.push({
      x: x1,
      y: y1,
      ax: x0,
      ay: y0,
      xref: 'x',
      yref: 'y',
      axref: 'x',
      ayref: 'y',
      showarrow: true,
      arrowhead: 2,
      arrowsize: 1,
      arrowwidth: dash ? 1 : 1.5,
      arrowcolor: color,
      text: '',
    });
    if (text) annotations.push({ x: (x0 + x1) / 2, y: (y0 + y1) / 2, text, showarrow: false, font: { size: 9, color }, bgcolor: 'rgba(255,255,255,0.85)' });
  };
  const nEnc = net.n_conv_per_stage_encoder ?? [];
  const nDec = net.n_conv_per_stage_decoder ?? [];
  for (let s = 0; s < S; s++) {
    const isBottom = s === S - 1;
    const lines = [`<b>${isBottom ? 'bottleneck' : `stage ${s}`}</b>`, x(net.feature_map_sizes[s]), `${net.features_per_stage[s]} features`];
    const conv = `${nEnc[s] ?? 2}× conv ${x(net.conv_kernel_sizes[s])}, stride ${x(net.strides[s])}`;
    box(s, -s, isBottom ? BOTTOM : ENC, lines, `encoder stage ${s}: ${x(net.feature_map_sizes[s])} voxels, ${net.features_per_stage[s]} features, ${conv}`);
    annotations.push({ x: s - bw / 2 - 0.04, y: -s, text: `k ${x(net.conv_kernel_sizes[s])}<br>s ${x(net.strides[s])}`, showarrow: false, xanchor: 'right', font: { size: 9, color: '#444444' } });
    if (!isBottom) {
      const d = 2 * (S - 1) - s;
      box(d, -s, DEC, [`<b>decoder ${s}</b>`, x(net.feature_map_sizes[s]), `${net.features_per_stage[s]} features`], `decoder stage ${s}: transposed conv ${x(net.strides[s + 1])} up from stage ${s + 1}, concatenated with encoder stage ${s}, ${nDec[s] ?? 2}× conv ${x(net.conv_kernel_sizes[s])}`);
      // skip connection: encoder s -> decoder s (concatenation)
      arrow(s + bw / 2, -s, d - bw / 2, -s, s === 0 ? 'skip (concatenate)' : '', '#888888', true);
      // down: encoder s -> s+1 (strided conv), up: s+1 -> decoder s (transposed conv)
      arrow(s + 0.15, -s - bh / 2, s + 1 - 0.15, -(s + 1) + bh / 2, `↓ ${x(net.strides[s + 1])}`, ENC);
      const from = s + 1 === S - 1 ? S - 1 : 2 * (S - 1) - (s + 1);
      arrow(from + 0.15, -(s + 1) + bh / 2, d - 0.15, -s - bh / 2, `↑ ${x(net.strides[s + 1])}`, DEC);
    }
  }
  const ds = opts.deepSupervision ?? true;
  if (S > 1) {
    const weights = dsWeights(S - 1);
    const nOut = ds ? S - 1 : 1;
    for (let s = 0; s < nOut; s++) {
      const d = 2 * (S - 1) - s;
      const hx = d + 1.1;
      const cls = opts.numClasses ? ` → ${opts.numClasses} classes` : '';
      const label = s === 0 ? `<b>output</b>${cls}<br>1×1 conv, softmax` : `DS head ${s}<br>1×1 conv`;
      shapes.push({ type: 'rect', x0: hx - 0.42, x1: hx + 0.42, y0: -s - 0.24, y1: -s + 0.24, line: { color: HEAD, width: 1.5 }, fillcolor: '#ffffff' });
      annotations.push({ x: hx, y: -s, text: `${label}<br>loss weight ${weights[s].toFixed(3)}`, showarrow: false, font: { size: 9, color: HEAD } });
      arrow(d + bw / 2, -s, hx - 0.42, -s, '', HEAD);
      hover.x.push(hx);
      hover.y.push(-s);
      hover.text.push(`${s === 0 ? 'final output' : `deep-supervision output ${s}`} at ${x(net.feature_map_sizes[s])}, loss weight ${weights[s].toFixed(4)}${s === S - 2 && S > 2 ? ' (the lowest resolution is not used by the loss)' : ''}`);
    }
  }
  const cols = 2 * (S - 1) + (S > 1 ? 2 : 1);
  const data: PlotlyTrace[] = [
    { type: 'scatter', mode: 'markers', x: hover.x, y: hover.y, text: hover.text, hoverinfo: 'text', marker: { size: 30, opacity: 0 }, showlegend: false },
  ];
  const params = net.parameterCount !== undefined ? `, ${net.parameterCount.toLocaleString('en')} parameters` : '';
  const layout: PlotlyLayout = {
    title: { text: opts.title ?? `${net.configuration ?? 'U-Net'}: ${S} stages${params}` },
    width: opts.width ?? Math.max(520, Math.round(cols * 110 + 80)),
    height: opts.height ?? Math.max(300, Math.round(S * 95 + 110)),
    margin: { l: 20, r: 20, t: 60, b: 20 },
    xaxis: { visible: false, range: [-1.1, cols - 0.4], fixedrange: true },
    yaxis: { visible: false, range: [-(S - 1) - 0.6, 0.6], fixedrange: true },
    shapes,
    annotations,
    showlegend: false,
    plot_bgcolor: '#ffffff',
  };
  return { data, layout };
}
