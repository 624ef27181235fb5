/**
 * The v1 evaluator (S1 nnunet/evaluation/evaluator.py `Evaluator`, `aggregate_scores`) and its `summary.json`.
 *
 * Layout of summary.json (v1 `aggregate_scores(json_output_file=...)`, written by batchgenerators' save_json with
 * sort_keys and indent 4):
 *   { author, description, id, name, results: { all: [ {<label>: {<metric>: v}, reference, test}, ... ],
 *                                               mean: { <label>: {<metric>: nanmean over cases} } },
 *     task, timestamp }
 * NaN is written as the bare token `NaN`, as Python's json module does; `readSummaryJson` accepts it.
 * Additions to v1: every label entry also carries TP, FP, FN and TN (nnU-Net v2 names); v1 readers ignore them.
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import { writeFileAtomic, writeFileAtomicSync } from '../io/atomic';
import { computeMetrics, confusionCounts, MetricValues } from './metrics';
import type { VoxelArray } from '../io/volume';

export type LabelArray = VoxelArray | ArrayLike<number>;

/** One case: per label (as string) the metric values; `test` / `reference` name the files when known. */
export type CaseScores = Record<string, MetricValues | string | undefined> & { test?: string; reference?: string };

export interface EvaluationResults {
  all: CaseScores[];
  /** label -> metric -> nanmean over cases (plus an optional foreground 'mean' entry, see `addForegroundMean`). */
  mean: Record<string, MetricValues>;
}

export interface SummaryJson {
  author: string;
  description: string;
  id: string;
  name: string;
  results: EvaluationResults;
  task: string;
  timestamp: string;
}

export interface EvaluateOptions {
  nanForNonexisting?: boolean;
}

/** v1 `Evaluator.evaluate` for a list of integer labels: metrics per label, keyed by `str(label)`. */
export function evaluateCase(
  test: LabelArray,
  reference: LabelArray,
  labels: readonly number[],
  opts: EvaluateOptions = {},
): Record<string, MetricValues> {
  const counts = confusionCounts(test, reference, labels);
  const out: Record<string, MetricValues> = {};
  labels.forEach((l, i) => {
    out[String(l)] = computeMetrics(counts[i], opts.nanForNonexisting ?? true);
  });
  return out;
}

/** numpy nanmean (NaN when every value is NaN, as numpy with its RuntimeWarning). */
export function nanmean(values: readonly number[]): number {
  let s = 0;
  let n = 0;
  for (const v of values) {
    if (!Number.isNaN(v)) {
      s += v;
      n++;
    }
  }
  return n === 0 ? NaN : s / n;
}

export interface EvaluationCase {
  test: LabelArray;
  reference: LabelArray;
  /** File names recorded as `test` / `reference` in summary.json (v1 stores the paths). */
  testName?: string;
  referenceName?: string;
}

/** v1 `aggregate_scores` on in-memory label maps: per-case scores and nanmean per label and metric. */
export function aggregateScores(
  cases: readonly EvaluationCase[],
  labels: readonly number[],
  opts: EvaluateOptions & { nanmean?: boolean } = {},
): EvaluationResults {
  const all = cases.map((c) => {
    const r: CaseScores = evaluateCase(c.test, c.reference, labels, opts);
    if (c.referenceName !== undefined) r.reference = c.referenceName;
    if (c.testName !== undefined) r.test = c.testName;
    return r;
  });
  return { all, mean: meanOverCases(all, opts.nanmean ?? true) };
}

/** Like `aggregateScores` but loads one case at a time (memory: one pair of volumes). */
export async function aggregateScoresLazy(
  n: number,
  load: (i: number) => Promise<EvaluationCase>,
  labels: readonly number[],
  opts: EvaluateOptions & { nanmean?: boolean } = {},
): Promise<EvaluationResults> {
  const all: CaseScores[] = [];
  for (let i = 0; i < n; i++) {
    const c = await load(i);
    const r: CaseScores = evaluateCase(c.test, c.reference, labels, opts);
    if (c.referenceName !== undefined) r.reference = c.referenceName;
    if (c.testName !== undefined) r.test = c.testName;
    all.push(r);
  }
  return { all, mean: meanOverCases(all, opts.nanmean ?? true) };
}

function meanOverCases(all: readonly CaseScores[], useNanmean: boolean): Record<string, MetricValues> {
  const collected: Record<string, Record<string, number[]>> = {};
  for (const r of all) {
    for (const [label, scores] of Object.entries(r)) {
      if (label === 'test' || label === 'reference' || typeof scores !== 'object' || scores === null) continue;
      const dst = (collected[label] ??= {});
      for (const [m, v] of Object.entries(scores)) (dst[m] ??= []).push(v);
    }
  }
  const mean: Record<string, MetricValues> = {};
  for (const [label, metrics] of Object.entries(collected)) {
    mean[label] = {};
    for (const [m, vals] of Object.entries(metrics)) {
      mean[label][m] = useNanmean ? nanmean(vals) : vals.reduce((a, b) => a + b, 0) / vals.length;
    }
  }
  return mean;
}

/**
 * v1 `add_mean_dice_to_json.foreground_mean`: adds results.mean['mean'] = nanmean over the foreground labels
 * (labels other than 0, -1 and 99) of every metric. Mutates and returns `results`.
 */
export function addForegroundMean(results: EvaluationResults): EvaluationResults {
  const fg = Object.keys(results.mean).filter((k) => k !== 'mean' && !['0', '-1', '99'].includes(k));
  delete results.mean['99'];
  if (fg.length === 0) return results;
  const metrics = Object.keys(results.mean['1'] ?? results.mean[fg[0]]);
  const m: MetricValues = {};
  for (const metric of metrics) m[metric] = nanmean(fg.map((l) => results.mean[l][metric]));
  results.mean['mean'] = m;
  return results;
}

/**
 * `figure_out_what_to_submit.get_foreground_mean`: plain mean (np.mean, so NaN propagates) of the per-label mean
 * Dice over labels other than '0' and 'mean'.
 */
export function foregroundMeanDice(results: EvaluationResults | SummaryJson): number {
  const mean = 'results' in results ? results.results.mean : results.mean;
  const ds = Object.keys(mean)
    .filter((k) => k !== '0' && k !== 'mean')
    .map((k) => mean[k].Dice);
  if (ds.length === 0) return NaN;
  return ds.reduce((a, b) => a + b, 0) / ds.length;
}

/** Wrap results into the summary.json object (v1 json_author default "Fabian"). */
export function makeSummaryJson(
  results: EvaluationResults,
  meta: { name?: string; description?: string; task?: string; author?: string; timestamp?: string } = {},
): SummaryJson {
  const body = {
    name: meta.name ?? '',
    description: meta.description ?? '',
    timestamp: meta.timestamp ?? pythonTimestamp(new Date()),
    task: meta.task ?? '',
    author: meta.author ?? 'Fabian',
    results,
  };
  // v1: id = md5 of the json dump of everything else, first 12 hex digits (our dump, so the digest differs)
  const id = crypto.createHash('md5').update(stringifyPythonJson(body, 0)).digest('hex').slice(0, 12);
  return {
    author: body.author,
    description: body.description,
    id,
    name: body.name,
    results: body.results,
    task: body.task,
    timestamp: body.timestamp,
  };
}

/** str(datetime.today()): 'YYYY-MM-DD HH:MM:SS.ffffff' (local time). */
function pythonTimestamp(d: Date): string {
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return (
    `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ` +
    `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds() * 1000, 6)}`
  );
}

const NAN_TOKEN = '__nnunet_ts_NaN__';
const INF_TOKEN = '__nnunet_ts_Infinity__';
const NINF_TOKEN = '__nnunet_ts_-Infinity__';

/** JSON with Python's spellings of non-finite numbers (NaN, Infinity, -Infinity), keys sorted like save_json. */
export function stringifyPythonJson(value: unknown, indent = 4): string {
  const text = JSON.stringify(
    value,
    (_k, v) => {
      if (typeof v === 'number' && !Number.isFinite(v)) return Number.isNaN(v) ? NAN_TOKEN : v > 0 ? INF_TOKEN : NINF_TOKEN;
      if (v && typeof v === 'object' && !Array.isArray(v) && !ArrayBuffer.isView(v)) {
        const sorted: Record<string, unknown> = {};
        for (const k of Object.keys(v).sort()) sorted[k] = (v as Record<string, unknown>)[k];
        return sorted;
      }
      return v;
    },
    indent,
  );
  return text
    .replace(new RegExp(`"${NAN_TOKEN}"`, 'g'), 'NaN')
    .replace(new RegExp(`"${INF_TOKEN}"`, 'g'), 'Infinity')
    .replace(new RegExp(`"${NINF_TOKEN}"`, 'g'), '-Infinity');
}

/** Parse JSON that may contain Python's bare NaN / Infinity / -Infinity tokens. */
export function parsePythonJson<T = unknown>(text: string, file = '<text>'): T {
  const marked = text.replace(/([:\[,]\s*)(-Infinity|Infinity|NaN)(?=\s*[,\]}])/g, (_m, pre: string, tok: string) => {
    const t = tok === 'NaN' ? NAN_TOKEN : tok === 'Infinity' ? INF_TOKEN : NINF_TOKEN;
    return `${pre}"${t}"`;
  });
  try {
    return JSON.parse(marked, (_k, v) => {
      if (v === NAN_TOKEN) return NaN;
      if (v === INF_TOKEN) return Infinity;
      if (v === NINF_TOKEN) return -Infinity;
      return v;
    }) as T;
  } catch (e) {
    throw new Error(`${file}: invalid JSON: ${(e as Error).message}`);
  }
}

export function readPythonJsonSync<T = unknown>(file: string): T {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new Error(`${file}: cannot read: ${(e as Error).message}`);
  }
  return parsePythonJson<T>(text, file);
}

export function writePythonJsonSync(file: string, value: unknown): void {
  writeFileAtomicSync(file, stringifyPythonJson(value) + '\n');
}

export async function writePythonJson(file: string, value: unknown): Promise<void> {
  await writeFileAtomic(file, stringifyPythonJson(value) + '\n');
}

/** Read a summary.json (ours or the official one), checking the fields the pipeline relies on. */
export function readSummaryJson(file: string): SummaryJson {
  const s = readPythonJsonSync<SummaryJson>(file);
  if (!s || typeof s !== 'object' || !s.results || !Array.isArray(s.results.all) || typeof s.results.mean !== 'object') {
    throw new Error(`${file}: not an nnU-Net summary.json (expected results.all and results.mean)`);
  }
  return s;
}

export async function writeSummaryJson(file: string, summary: SummaryJson): Promise<void> {
  await writePythonJson(file, summary);
}
