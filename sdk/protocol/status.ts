/**
 * The state of every step, from the files (outputs, records, locks) and, when a scheduler is there, its queue:
 *
 *   done         the step's outputs are complete (training: checkpoint_final + validation summary.json)
 *   skipped      the plans have no such configuration (e.g. no 3d_lowres for small images): nothing to do
 *   running      its lock is held by a live process or Slurm job
 *   queued       a Slurm job for it waits in the queue
 *   failed       its last run raised: the record names the error and the log
 *   interrupted  its last run stopped before the end (time limit, scancel, kill): the next run resumes from the
 *                latest checkpoint
 *   waiting      not started
 */
import * as fs from 'fs';
import * as path from 'path';
import { checkpointFile, readCheckpoint } from '../checkpoint/checkpoint';
import { DEFAULT_TRAINING_SEED, V2_ITERATIONS_PER_EPOCH, V2_MAX_NUM_EPOCHS } from '../training/constants';
import { preprocessedFolder, predNextStageFolder, SUMMARY_FILE, trainedFoldFolder, validationFolder } from '../paths';
import { buildProtocolGraph, type ProtocolGraph, type ProtocolStep } from './graph';
import { specPlansName, type ProtocolSpec } from './spec';
import { ProtocolStore, type JobAliveFn } from './store';

export type StepState = 'done' | 'skipped' | 'running' | 'queued' | 'failed' | 'interrupted' | 'waiting';

export interface StepStatus {
  step: string;
  state: StepState;
  /** the Slurm job (queued/running) or the process (running) */
  jobId?: string;
  /** the output of its last run */
  log?: string;
  detail?: string;
}

/** What a scheduler knows: per step id, the job that will run (pending) or runs it. */
export interface QueueView {
  pending: Map<string, string>;
  running: Map<string, string>;
  jobAlive: JobAliveFn;
}

function datasetFolder(spec: ProtocolSpec): string {
  return path.basename(path.resolve(spec.task));
}

function mtime(f: string): number {
  try {
    return fs.statSync(f).mtimeMs;
  } catch {
    return NaN;
  }
}

/** The case ids of the task's training set (dataset.json `training`, as Dataset reads it), for pred_next_stage. */
export type CaseIdsFn = () => string[];

/** The files whose presence says a step finished (the rule: checkpoint_final and the validation summary). */
export function stepOutputs(spec: ProtocolSpec, step: ProtocolStep, caseIds: CaseIdsFn): string[] {
  const plansName = specPlansName(spec);
  const ds = datasetFolder(spec);
  const results = spec.roots.results;
  switch (step.kind) {
    case 'plan_and_preprocess': {
      const pre = preprocessedFolder(spec.roots.preprocessed, ds);
      return [path.join(pre, `${plansName}.json`), path.join(pre, 'splits_final.json')];
    }
    case 'train': {
      const fold = trainedFoldFolder(results, ds, plansName, step.configuration!, step.fold!);
      return [checkpointFile(fold, 'checkpoint_final'), path.join(validationFolder(fold), SUMMARY_FILE)];
    }
    case 'pred_next_stage': {
      const dir = predNextStageFolder(results, ds, plansName);
      return caseIds().map((id) => path.join(dir, `${id}_segFromPrevStage.npy`));
    }
    case 'find_best_configuration':
      return [path.join(results, ds, 'summary.csv'), path.join(results, ds, 'inference_instructions.json')];
    case 'predict':
      return [spec.predict!.output];
  }
}

/**
 * Whether a step's work is complete: its outputs exist, its last run did not end in another state after them, and
 * (model selection, prediction) they are newer than what they were computed from, so a retrained fold invalidates
 * the selection made before it.
 */
export function stepComplete(spec: ProtocolSpec, g: ProtocolGraph, step: ProtocolStep, store: ProtocolStore, caseIds: CaseIdsFn): boolean {
  const rec = store.readRecord(step.id);
  if (rec?.state === 'skipped') return true;
  if (rec?.state === 'running' || rec?.state === 'interrupted' || rec?.state === 'failed') {
    // the outputs of an earlier run may exist; only a finished run counts (training: checkpoint_final is written last)
    if (step.kind !== 'train') return false;
  }
  const outs = stepOutputs(spec, step, caseIds);
  if (!outs.every((f) => fs.existsSync(f))) return false;
  if (step.kind === 'train' && !trainedWithSchedule(outs[0], spec)) return false;
  if (step.kind === 'plan_and_preprocess') return rec?.state === 'done';
  if (step.kind === 'find_best_configuration' || step.kind === 'predict') {
    const newest = Math.max(
      ...step.deps.flatMap((d) => {
        const dep = g.steps.find((s) => s.id === d)!;
        return stepOutputs(spec, dep, caseIds).map(mtime).filter(Number.isFinite);
      }),
    );
    if (outs.some((f) => mtime(f) < newest)) return false;
    if (step.kind === 'predict') return rec?.state === 'done';
  }
  return true;
}

/**
 * Was this checkpoint_final trained with the spec's schedule (epochs, iterations, seed)? A fold trained earlier with
 * another schedule is not this protocol's: the step runs, and training (run_key) starts it afresh.
 */
function trainedWithSchedule(finalCheckpoint: string, spec: ProtocolSpec): boolean {
  try {
    const st = readCheckpoint(finalCheckpoint).state;
    const t = spec.training;
    return (
      st.maxEpochs === (t.epochs ?? V2_MAX_NUM_EPOCHS) &&
      st.epoch >= st.maxEpochs &&
      st.iterationsPerEpoch === (t.iterationsPerEpoch ?? V2_ITERATIONS_PER_EPOCH) &&
      st.seed === (t.seed ?? DEFAULT_TRAINING_SEED)
    );
  } catch {
    return false; // unreadable: not complete (the training step reports the problem)
  }
}

/** Every step's state, in graph order. */
export function protocolStatus(spec: ProtocolSpec, store: ProtocolStore, caseIds: CaseIdsFn, queue?: QueueView | null): StepStatus[] {
  const g = buildProtocolGraph(spec);
  return g.steps.map((step): StepStatus => {
    const rec = store.readRecord(step.id);
    const log = rec?.log;
    if (stepComplete(spec, g, step, store, caseIds)) {
      return { step: step.id, state: rec?.state === 'skipped' ? 'skipped' : 'done', log, detail: rec?.state === 'skipped' || rec?.state === 'done' ? rec.detail : undefined };
    }
    const lock = store.readLock(step.id);
    if (lock && !store.isStale(lock, queue?.jobAlive)) {
      return { step: step.id, state: 'running', jobId: lock.jobId ?? `pid ${lock.pid} on ${lock.host}`, log, detail: `since ${lock.started}` };
    }
    const running = queue?.running.get(step.id);
    if (running) return { step: step.id, state: 'running', jobId: running, log, detail: 'job started' };
    const pending = queue?.pending.get(step.id);
    if (pending) return { step: step.id, state: 'queued', jobId: pending, log: rec?.log };
    if (rec?.state === 'failed') return { step: step.id, state: 'failed', log, detail: rec.detail };
    if (rec?.state === 'interrupted' || rec?.state === 'running' || lock) {
      return { step: step.id, state: 'interrupted', log, detail: rec?.state === 'interrupted' ? rec.detail : 'its process is gone; the next run resumes from the latest checkpoint' };
    }
    return { step: step.id, state: 'waiting' };
  });
}

/** One line per step, for terminals: `done      train.2d.fold_0   ...`. */
export function formatStatus(rows: StepStatus[]): string {
  const w = Math.max(...rows.map((r) => r.step.length));
  return rows
    .map((r) =>
      [r.state.padEnd(11), r.step.padEnd(w), r.jobId ? `[${r.jobId}]` : '', r.detail ?? '', r.state === 'failed' || r.state === 'interrupted' ? (r.log ? `log: ${r.log}` : '') : '']
        .filter(Boolean)
        .join('  '),
    )
    .join('\n');
}
