/**
 * `Summary`: a notebook view of one or several summary.json files (e.g. the 5 folds of a configuration).
 * `.table()` gives an arquero table (one row per fold, case and label), `.meanTable()` the per-label means,
 * `.plot()` a Plotly figure spec (box plots of Dice per class, one box group per fold).
 */
import * as aq from 'arquero';
import * as path from 'path';
import { addForegroundMean, foregroundMeanDice, readSummaryJson, SummaryJson } from './evaluator';
import type { MetricValues } from './metrics';

export interface SummaryRow {
  fold: string;
  case: string;
  label: string;
  Dice: number;
  Jaccard: number;
  Precision: number;
  Recall: number;
  TP: number;
  FP: number;
  FN: number;
  TN: number;
}

import type { PlotlyFigure } from '../viz/figure';

/** Case id from the file names recorded in summary.json (basename without .nii.gz / .nii). */
export function caseIdFromPath(p: string | undefined, fallback: string): string {
  if (!p) return fallback;
  return path.basename(p).replace(/\.nii(\.gz)?$/, '');
}

export class Summary {
  /** fold name -> summary.json content */
  readonly folds: Map<string, SummaryJson>;

  constructor(folds: Map<string, SummaryJson> | SummaryJson, foldName = 'all') {
    this.folds = folds instanceof Map ? folds : new Map([[foldName, folds]]);
    if (this.folds.size === 0) throw new Error('Summary: no summary.json given');
  }

  static fromFile(file: string, foldName = 'all'): Summary {
    return new Summary(readSummaryJson(file), foldName);
  }

  /** One summary per fold, e.g. {fold_0: '.../fold_0/validation_raw/summary.json', ...}. */
  static fromFiles(files: Record<string, string>): Summary {
    return new Summary(new Map(Object.entries(files).map(([k, f]) => [k, readSummaryJson(f)])));
  }

  /** Labels present in the per-case results (as strings, numeric order). */
  labels(): string[] {
    const s = new Set<string>();
    for (const j of this.folds.values()) {
      for (const c of j.results.all) for (const k of Object.keys(c)) if (k !== 'test' && k !== 'reference') s.add(k);
    }
    return [...s].sort((a, b) => Number(a) - Number(b));
  }

  rows(): SummaryRow[] {
    const rows: SummaryRow[] = [];
    for (const [fold, j] of this.folds) {
      j.results.all.forEach((c, i) => {
        const id = caseIdFromPath(c.reference ?? c.test, `case_${i}`);
        for (const [label, m] of Object.entries(c)) {
          if (label === 'test' || label === 'reference' || typeof m !== 'object' || m === null) continue;
          const v = m as MetricValues;
          rows.push({
            fold,
            case: id,
            label,
            Dice: v.Dice,
            Jaccard: v.Jaccard,
            Precision: v.Precision,
            Recall: v.Recall,
            TP: v.TP ?? NaN,
            FP: v.FP ?? NaN,
            FN: v.FN ?? NaN,
            TN: v.TN ?? NaN,
          });
        }
      });
    }
    return rows;
  }

  /** Per-case, per-label metrics as an arquero table. */
  table(): aq.ColumnTable {
    return aq.from(this.rows());
  }

  /** Per fold and label: the results.mean values of Dice, Jaccard, Precision and Recall. */
  meanTable(): aq.ColumnTable {
    const rows: Record<string, unknown>[] = [];
    for (const [fold, j] of this.folds) {
      for (const [label, m] of Object.entries(j.results.mean)) {
        rows.push({ fold, label, Dice: m.Dice, Jaccard: m.Jaccard, Precision: m.Precision, Recall: m.Recall });
      }
    }
    return aq.from(rows);
  }

  /** Mean foreground Dice per fold (np.mean over the labels other than 0, as model selection uses it). */
  foregroundDice(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [fold, j] of this.folds) out[fold] = foregroundMeanDice(j);
    return out;
  }

  /** Same summaries with results.mean['mean'] added (v1 foreground_mean). */
  withForegroundMean(): Summary {
    const m = new Map<string, SummaryJson>();
    for (const [k, j] of this.folds) {
      const copy = JSON.parse(JSON.stringify(j, (_k, v) => (typeof v === 'number' && Number.isNaN(v) ? '__NaN__' : v)), (_k, v) =>
        v === '__NaN__' ? NaN : v,
      ) as SummaryJson;
      addForegroundMean(copy.results);
      m.set(k, copy);
    }
    return new Summary(m);
  }

  /** Box plots of per-case Dice per class; one trace (box group) per fold. NaN cases are left out, as nanmean does. */
  plot(opts: { title?: string; labelNames?: Record<string, string>; includeBackground?: boolean } = {}): PlotlyFigure {
    const names = opts.labelNames ?? {};
    const rows = this.rows().filter((r) => (opts.includeBackground ? true : r.label !== '0') && !Number.isNaN(r.Dice));
    const data = [...this.folds.keys()].map((fold) => {
      const fr = rows.filter((r) => r.fold === fold);
      return {
        type: 'box',
        name: fold,
        x: fr.map((r) => names[r.label] ?? `class ${r.label}`),
        y: fr.map((r) => r.Dice),
        text: fr.map((r) => r.case),
        boxpoints: 'all',
        jitter: 0.3,
        pointpos: 0,
        hovertemplate: '%{text}<br>Dice %{y:.4f}<extra>%{fullData.name}</extra>',
      };
    });
    return {
      data,
      layout: {
        title: { text: opts.title ?? 'Dice per class' },
        boxmode: 'group',
        yaxis: { title: { text: 'Dice' }, range: [0, 1.02] },
        xaxis: { title: { text: 'class' } },
        showlegend: this.folds.size > 1,
      },
    };
  }
}
