/**
 * Training progress and evaluation figures, laid out as nnU-Net's own plots so users compare like with like.
 */
import { boxPlot, COLORWAY, Figure, PlotlyLayout, ChartSample, PlotlyTrace } from './figure';

/** One line of a training log (one entry per epoch). */
export interface TrainingCurveEntry {
  epoch: number;
  train_loss: number;
  val_loss: number;
  /** pseudo dice per foreground class (or region) of this epoch's validation batches */
  pseudo_dice: number[];
  /** exponential moving average of the mean pseudo dice */
  ema: number;
  lr: number;
  /** seconds the epoch took (optional; adds nnU-Net's "epoch duration" panel) */
  epoch_time?: number;
}

function nanmean(a: number[]): number {
  let s = 0;
  let n = 0;
  for (const v of a) if (Number.isFinite(v)) (s += v), n++;
  return n ? s / n : NaN;
}

function clean(v: number): number | null {
  return Number.isFinite(v) ? v : null;
}

/**
 * nnU-Net v2's progress.png (nnunetv2/training/logging/nnunet_logger.py plot_progress_png) as one Plotly figure:
 * top: loss_tr (blue), loss_val (red), pseudo dice (green dotted; mean over classes, np.nanmean as the trainer's
 * mean_fg_dice) and pseudo dice (mov. avg.) (green solid) on a right axis; then epoch duration [s] if the log has
 * epoch_time; bottom: learning rate. `perClass` adds one thin dotted line per class (default when >1 class).
 */
export function trainingCurves(
  log: TrainingCurveEntry[],
  opts: { title?: string; classNames?: string[]; perClass?: boolean; width?: number; height?: number } = {},
): Figure {
  if (!Array.isArray(log) || log.length === 0) throw new Error('trainingCurves: the log has no epochs');
  log.forEach((e, i) => {
    for (const k of ['epoch', 'train_loss', 'val_loss', 'ema', 'lr'] as const) {
      if (typeof e[k] !== 'number') throw new Error(`trainingCurves: log[${i}].${k} is ${JSON.stringify(e[k])}, expected a number`);
    }
    if (!Array.isArray(e.pseudo_dice)) throw new Error(`trainingCurves: log[${i}].pseudo_dice is not an array`);
  });
  const epochs = log.map((e) => e.epoch);
  const hasTime = log.some((e) => typeof e.epoch_time === 'number');
  const nClasses = Math.max(...log.map((e) => e.pseudo_dice.length));
  const perClass = opts.perClass ?? nClasses > 1;

  // vertical domains: [top, (duration), lr]
  const domains: [number, number][] = hasTime
    ? [
        [0.6, 1],
        [0.32, 0.52],
        [0, 0.24],
      ]
    : [
        [0.38, 1],
        [0, 0.3],
      ];
  // axes: top panel x/y (+ y2 for dice, overlaying y); lr panel y3; duration panel (optional) y4.
  const lrX = hasTime ? 'x3' : 'x2';
  const data: PlotlyTrace[] = [
    { type: 'scatter', mode: 'lines', name: 'loss_tr', x: epochs, y: log.map((e) => clean(e.train_loss)), line: { color: 'blue', width: 3 }, xaxis: 'x', yaxis: 'y' },
    { type: 'scatter', mode: 'lines', name: 'loss_val', x: epochs, y: log.map((e) => clean(e.val_loss)), line: { color: 'red', width: 3 }, xaxis: 'x', yaxis: 'y' },
    { type: 'scatter', mode: 'lines', name: 'pseudo dice', x: epochs, y: log.map((e) => clean(nanmean(e.pseudo_dice))), line: { color: 'green', width: 2, dash: 'dot' }, xaxis: 'x', yaxis: 'y2' },
    { type: 'scatter', mode: 'lines', name: 'pseudo dice (mov. avg.)', x: epochs, y: log.map((e) => clean(e.ema)), line: { color: 'green', width: 3 }, xaxis: 'x', yaxis: 'y2' },
  ];
  if (perClass) {
    for (let c = 0; c < nClasses; c++) {
      data.push({
        type: 'scatter',
        mode: 'lines',
        name: `pseudo dice ${opts.classNames?.[c] ?? `class ${c + 1}`}`,
        x: epochs,
        y: log.map((e) => clean(e.pseudo_dice[c] ?? NaN)),
        line: { color: COLORWAY[(c + 2) % COLORWAY.length], width: 1, dash: 'dot' },
        xaxis: 'x',
        yaxis: 'y2',
      });
    }
  }
  if (hasTime) {
    data.push({ type: 'scatter', mode: 'lines', name: 'epoch duration', x: epochs, y: log.map((e) => clean(e.epoch_time ?? NaN)), line: { color: 'blue', width: 3 }, xaxis: 'x2', yaxis: 'y4', showlegend: false });
  }
  data.push({ type: 'scatter', mode: 'lines', name: 'learning rate', x: epochs, y: log.map((e) => clean(e.lr)), line: { color: 'blue', width: 3 }, xaxis: lrX, yaxis: 'y3', showlegend: false });

  const layout: PlotlyLayout = {
    width: opts.width ?? 800,
    height: opts.height ?? (hasTime ? 800 : 600),
    margin: { l: 70, r: 70, t: opts.title ? 120 : 80, b: 50 },
    legend: { orientation: 'h', x: 0, y: 1.02, yanchor: 'bottom' },
    xaxis: { anchor: 'y', domain: [0, 1] },
    yaxis: { domain: domains[0], title: { text: 'loss' } },
    // own ticks (not synced to the loss grid), fixed 0..1 as Dice is
    yaxis2: { overlaying: 'y', side: 'right', anchor: 'x', title: { text: 'pseudo dice' }, range: [0, 1], tickmode: 'linear', tick0: 0, dtick: 0.2, showgrid: false },
  };
  // x axes of the lower panels share the top panel's range (matches) but draw their own ticks; the bottom one is titled
  layout[lrX === 'x3' ? 'xaxis3' : 'xaxis2'] = { anchor: 'y3', domain: [0, 1], matches: 'x', title: { text: 'epoch' } };
  layout.yaxis3 = { domain: domains[domains.length - 1], anchor: lrX, title: { text: 'learning rate' } };
  if (hasTime) {
    // the duration axis starts at 0 as in nnU-Net (ylim = [0, max])
    layout.xaxis2 = { anchor: 'y4', domain: [0, 1], matches: 'x' };
    layout.yaxis4 = { domain: domains[1], anchor: 'x2', title: { text: 'time [s]' }, rangemode: 'tozero' };
  }
  if (opts.title) layout.title = { text: opts.title, y: 0.99, yanchor: 'top' };
  return { data, layout };
}

/** One evaluated case and class (a row of nnU-Net's summary.json metric_per_case, flattened). */
export interface DicePerClassRow {
  /** class (or region) name or label value */
  class: string | number;
  dice: number;
  case?: string;
  /** optional grouping (configuration, fold, trainer): one box per class and group */
  group?: string;
}

/**
 * Box plot of per-case Dice by class (one box per class; per class and group, side by side, when rows carry a
 * group). NaN Dice (reference and prediction both empty; nnU-Net's evaluation reports NaN and averages with
 * nanmean) are left out of the boxes and counted in the x label.
 */
export function dicePerClass(rows: DicePerClassRow[], opts: { title?: string; width?: number; height?: number } = {}): Figure {
  if (!Array.isArray(rows) || rows.length === 0) throw new Error('dicePerClass: no rows');
  rows.forEach((r, i) => {
    if (r.class === undefined || r.class === null) throw new Error(`dicePerClass: rows[${i}] has no class`);
    if (typeof r.dice !== 'number') throw new Error(`dicePerClass: rows[${i}].dice is ${JSON.stringify(r.dice)}, expected a number`);
  });
  const classes = [...new Set(rows.map((r) => String(r.class)))];
  const groups = [...new Set(rows.map((r) => r.group ?? ''))];
  const nanCount = new Map<string, number>();
  for (const r of rows) if (!Number.isFinite(r.dice)) nanCount.set(String(r.class), (nanCount.get(String(r.class)) ?? 0) + 1);
  const label = (c: string) => (nanCount.get(c) ? `${c} (${nanCount.get(c)} NaN)` : c);

  if (groups.length === 1 && groups[0] === '') {
    const samples: ChartSample[] = classes.map((c) => ({ name: label(c), values: rows.filter((r) => String(r.class) === c).map((r) => r.dice) }));
    const fig = boxPlot(samples, { title: opts.title, yTitle: 'Dice', xTitle: 'class', width: opts.width, height: opts.height });
    fig.data.forEach((t, i) => (t.text = rows.filter((r) => String(r.class) === classes[i] && Number.isFinite(r.dice)).map((r) => r.case ?? '')));
    (fig.layout.yaxis as PlotlyLayout).range = [0, 1.02];
    (fig.layout.xaxis as PlotlyLayout).type = 'category'; // numeric class labels stay categories
    return fig;
  }
  // grouped: x holds the class of every value, one trace per group, boxmode 'group'
  const data: PlotlyTrace[] = groups.map((g, gi) => {
    const rs = rows.filter((r) => (r.group ?? '') === g && Number.isFinite(r.dice));
    return {
      type: 'box',
      name: g || '(none)',
      x: rs.map((r) => label(String(r.class))),
      y: rs.map((r) => r.dice),
      text: rs.map((r) => r.case ?? ''),
      boxpoints: 'all',
      jitter: 0.3,
      pointpos: 0,
      boxmean: true,
      marker: { color: COLORWAY[gi % COLORWAY.length] },
    };
  });
  const layout: PlotlyLayout = {
    boxmode: 'group',
    margin: { l: 60, r: 30, t: opts.title ? 50 : 20, b: 50 },
    // category axis even for numeric class labels (else Plotly makes it linear and ignores the order)
    xaxis: { title: { text: 'class' }, type: 'category', categoryorder: 'array', categoryarray: classes.map(label) },
    yaxis: { title: { text: 'Dice' }, range: [0, 1.02] },
  };
  if (opts.title) layout.title = { text: opts.title };
  if (opts.width) layout.width = opts.width;
  if (opts.height) layout.height = opts.height;
  return { data, layout };
}
