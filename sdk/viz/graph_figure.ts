/**
 * A job graph as a figure: one marker per step, columns by depth (every step right of its dependencies), arrows for
 * the dependencies, colour by state. Used for the protocol (sdk/protocol); takes plain nodes so it knows nothing of
 * the protocol's types.
 */
import type { Figure, PlotlyTrace } from './figure';

export interface GraphNode {
  id: string;
  /** text under the marker (default id) */
  label?: string;
  deps: string[];
  /** a key of `colors` (e.g. done, running, failed) */
  state: string;
  /** hover text */
  hover?: string;
}

export interface GraphFigureOptions {
  title?: string;
  /** colour per state */
  colors?: Record<string, string>;
  height?: number;
  width?: number;
  /**
   * The figure shows a state that legitimately differs between two runs of a notebook (e.g. a job graph before a
   * run: waiting the first time, done on a re-run). Marked in layout.meta, so the notebook runner's re-run check
   * (kernel-setup/run_notebooks.py --twice) skips it like a progress display.
   */
  liveState?: boolean;
}

/** States of a job: green done, grey skipped, blue running, light blue queued, red failed, orange interrupted, white waiting. */
export const STATE_COLORS: Record<string, string> = {
  done: '#2ca02c',
  skipped: '#bbbbbb',
  running: '#1f77b4',
  queued: '#9ecae1',
  failed: '#d62728',
  interrupted: '#ff7f0e',
  waiting: '#ffffff',
};

/** layout.meta of a figure whose content is a live state (see GraphFigureOptions.liveState). */
export const LIVE_STATE_META = 'nnunet-live-state';

export function graphFigure(nodes: GraphNode[], o: GraphFigureOptions = {}): Figure {
  const colors = { ...STATE_COLORS, ...(o.colors ?? {}) };
  const depth = new Map<string, number>();
  for (const n of nodes) depth.set(n.id, n.deps.length ? Math.max(...n.deps.map((d) => depth.get(d) ?? 0)) + 1 : 0);
  const columns = new Map<number, GraphNode[]>();
  for (const n of nodes) {
    const d = depth.get(n.id)!;
    if (!columns.has(d)) columns.set(d, []);
    columns.get(d)!.push(n);
  }
  const pos = new Map<string, [number, number]>();
  const tallest = Math.max(...[...columns.values()].map((c) => c.length));
  for (const [d, col] of columns) col.forEach((n, i) => pos.set(n.id, [d, (col.length - 1) / 2 - i]));
  const annotations = nodes.flatMap((n) =>
    n.deps.map((d) => {
      const [x0, y0] = pos.get(d)!;
      const [x1, y1] = pos.get(n.id)!;
      return { x: x1, y: y1, ax: x0, ay: y0, xref: 'x', yref: 'y', axref: 'x', ayref: 'y', showarrow: true, arrowhead: 2, arrowsize: 1, arrowwidth: 1, arrowcolor: '#999', standoff: 9, startstandoff: 9, text: '' };
    }),
  );
  const states = [...new Set(nodes.map((n) => n.state))];
  const data: PlotlyTrace[] = states.map((s) => {
    const ns = nodes.filter((n) => n.state === s);
    return {
      type: 'scatter',
      mode: 'markers+text',
      name: `${s} (${ns.length})`,
      x: ns.map((n) => pos.get(n.id)![0]),
      y: ns.map((n) => pos.get(n.id)![1]),
      text: ns.map((n) => n.label ?? n.id),
      textposition: 'bottom center',
      textfont: { size: 10 },
      hovertext: ns.map((n) => n.hover ?? `${n.id}: ${n.state}`),
      hoverinfo: 'text',
      marker: { size: 16, color: colors[s] ?? '#888', line: { color: '#333', width: 1 }, symbol: 'square' },
    };
  });
  return {
    data,
    layout: {
      title: { text: o.title ?? 'Job graph' },
      height: o.height ?? Math.max(300, 70 * tallest + 120),
      width: o.width,
      showlegend: true,
      legend: { orientation: 'h', y: -0.08 },
      xaxis: { visible: false, range: [-0.6, columns.size - 0.4] },
      yaxis: { visible: false, range: [-(tallest / 2) - 0.2, tallest / 2] },
      annotations,
      margin: { l: 20, r: 20, t: 50, b: 40 },
      plot_bgcolor: '#fafafa',
      ...(o.liveState ? { meta: LIVE_STATE_META } : {}),
    },
  };
}
