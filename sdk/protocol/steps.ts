/**
 * The work of each protocol step, the same code whichever executor started it (a local child process or a Slurm
 * job: both call `nnunet-ts protocol step`). Each step runs through the SDK's own fluent steps, which are cached:
 * planning and preprocessing reuse what is up to date, a finished training is reused and an interrupted one resumes
 * from checkpoint_latest (run_key.ts), a prediction made from the same inputs is reused. Around the work: the step's
 * lock (one process per step), and its record (store.ts).
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Task } from '../task';
import { checkpointFile, readCheckpoint } from '../checkpoint/checkpoint';
import { ensembleFolders } from '../ensembling/ensemble';
import { readPostprocessingJson } from '../postprocessing/determine';
import type { InferenceInstructions } from '../model_selection/consolidate';
import { buildProtocolGraph, stepById, type ProtocolStep } from './graph';
import { specPlansName, type ProtocolSpec } from './spec';
import { ProtocolStore, StepLockedError, type JobAliveFn, type LockOwner, type StepRecord } from './store';
export { EXIT_INTERRUPTED } from './store';
import { stepComplete, protocolStatus } from './status';

export interface StepRunOptions {
  /** Slurm job id (`<array job>_<task>`), recorded in the lock and the record */
  jobId?: string;
  /** the file this run's output goes to (recorded, so a failure can point at it) */
  log?: string;
  /** aborted: stop at the next epoch end with a checkpoint (the step ends 'interrupted') */
  signal?: { readonly aborted: boolean };
  jobAlive?: JobAliveFn;
  print?: (line: string) => void;
}

export type StepOutcome = 'done' | 'skipped' | 'interrupted';


export function loadProtocolTask(spec: ProtocolSpec) {
  return Task.load(spec.task, { preprocessedRoot: spec.roots.preprocessed, resultsRoot: spec.roots.results });
}

/** Runs one step: checks its dependencies are complete, takes its lock, does the work, records the outcome. */
export async function runStep(spec: ProtocolSpec, stepId: string, o: StepRunOptions = {}): Promise<StepOutcome> {
  const print = o.print ?? ((l: string) => console.log(l));
  const g = buildProtocolGraph(spec);
  const step = stepById(g, stepId);
  const store = ProtocolStore.of(spec);
  const task = await loadProtocolTask(spec);
  const caseIds = () => task.caseIds;
  const status = protocolStatus(spec, store, caseIds);
  const notReady = step.deps.filter((d) => {
    const st = status.find((s) => s.step === d)!.state;
    return st !== 'done' && st !== 'skipped';
  });
  if (notReady.length) {
    const states = notReady.map((d) => `${d} (${status.find((s) => s.step === d)!.state})`);
    throw new Error(`step ${stepId} needs ${states.join(', ')} to be complete first`);
  }
  const owner = { host: os.hostname(), pid: process.pid, jobId: o.jobId, started: new Date().toISOString() };
  const release = await acquireWaiting(store, stepId, owner, o);
  const record = (state: StepRecord['state'], detail?: string) =>
    store.writeRecord({ step: stepId, state, host: owner.host, pid: owner.pid, jobId: o.jobId, log: o.log, started: owner.started, ended: state === 'running' ? undefined : new Date().toISOString(), detail });
  try {
    if (stepComplete(spec, g, step, store, caseIds)) {
      print(`${stepId}: already complete`);
      return 'done';
    }
    record('running');
    print(`${stepId}: started on ${owner.host} (pid ${owner.pid}${o.jobId ? `, Slurm job ${o.jobId}` : ''})`);
    const r = await work(spec, step, task, o, print);
    record(r.outcome === 'interrupted' ? 'interrupted' : r.outcome, r.detail);
    print(`${stepId}: ${r.outcome}${r.detail ? ` (${r.detail})` : ''}`);
    return r.outcome;
  } catch (e) {
    record('failed', (e as Error).message);
    throw e;
  } finally {
    release();
  }
}

/**
 * The step's lock; when its holder is a process of a job that already left the queue (scancel, time limit), that
 * process is finishing its checkpoint: wait for it (up to 2 min) rather than fail.
 */
async function acquireWaiting(store: ProtocolStore, stepId: string, owner: LockOwner, o: StepRunOptions): Promise<() => void> {
  const t0 = Date.now();
  for (;;) {
    try {
      return store.acquire(stepId, owner, o.jobAlive);
    } catch (e) {
      const held = e instanceof StepLockedError ? e.owner : null;
      if (!held?.jobId || !o.jobAlive || o.jobAlive(held.jobId) !== false || Date.now() - t0 > 120_000) throw e;
      await new Promise((r) => setTimeout(r, 2000));
    }
  }
}

async function work(spec: ProtocolSpec, step: ProtocolStep, task: Task, o: StepRunOptions, print: (l: string) => void): Promise<{ outcome: StepOutcome; detail?: string }> {
  const plans = await task.plan({ preset: spec.plans.preset, gpuMemoryTargetGB: spec.plans.gpuMemoryTargetGB });
  if (plans.plansName !== specPlansName(spec)) throw new Error(`planning wrote plans '${plans.plansName}', the protocol expects '${specPlansName(spec)}'`);
  const t = spec.training;
  switch (step.kind) {
    case 'plan_and_preprocess': {
      // the split is written here, once, before the training jobs that all read it start side by side
      await task.splits();
      const wanted = spec.configurations.filter((c) => plans.hasConfiguration(c));
      const toPreprocess = new Set(wanted.map((c) => (c === '3d_cascade_fullres' ? '3d_fullres' : c)));
      for (const c of toPreprocess) {
        const pre = await plans.preprocess(c);
        print(`preprocessed ${c}: ${pre.caseIds.length} cases in ${pre.dir}`);
      }
      const missing = spec.configurations.filter((c) => !plans.hasConfiguration(c));
      return { outcome: 'done', detail: `plans ${plans.plansName}: ${plans.configurationNames.join(', ')}${missing.length ? `; not planned: ${missing.join(', ')}` : ''}` };
    }
    case 'train': {
      const c = step.configuration!;
      if (!plans.hasConfiguration(c)) return { outcome: 'skipped', detail: `the plans ${plans.plansName} have no ${c}` };
      const fold = await plans.fold(step.fold!);
      const latest = checkpointFile(fold.outputDir(c), 'checkpoint_latest');
      if (fs.existsSync(latest)) {
        const st = readCheckpoint(latest).state;
        print(`${step.id}: checkpoint_latest at epoch ${st.epoch} of ${st.maxEpochs}: resuming from it (if its settings match this run)`);
      }
      const r = await fold.train({
        configuration: c,
        // the ensembles of model selection average the validation probabilities (v1 --npz)
        saveProbabilities: true,
        epochs: t.epochs,
        iterationsPerEpoch: t.iterationsPerEpoch,
        validationIterations: t.validationIterations,
        seed: t.seed,
        checkpointEvery: t.checkpointEvery,
        gradientWorkers: t.gradientWorkers,
        numThreads: t.threads,
        mirroring: t.mirroring,
        stopSignal: o.signal,
      });
      if (r.stoppedEarly) return { outcome: 'interrupted', detail: `stopped after epoch ${r.log.length}; checkpoint_latest saved, the next run resumes from it` };
      const dice = r.validation ? ` validation mean Dice ${Object.entries(r.validation.meanDice).map(([k, d]) => `${k}: ${d.toFixed(4)}`).join(', ')}` : '';
      return { outcome: 'done', detail: `${r.reused ? 'reused a finished run' : `${r.log.length} epochs`}${dice}` };
    }
    case 'pred_next_stage': {
      if (!plans.hasConfiguration('3d_cascade_fullres')) return { outcome: 'skipped', detail: `the plans ${plans.plansName} have no cascade` };
      // with all 5 folds, the 3d_lowres trainings already wrote every case out-of-fold (v1 run_training.py)
      const first = await plans.fold(spec.folds[0]);
      const dir = first.predNextStageDir();
      const missing = task.caseIds.filter((id) => !fs.existsSync(path.join(dir, `${id}_segFromPrevStage.npy`)));
      if (!missing.length) return { outcome: 'done', detail: `${task.caseIds.length} cases, all out-of-fold` };
      print(
        `pred_next_stage: ${missing.length} cases are in no validation fold of the trained folds (${spec.folds.join(' ')}); ` +
          `fold ${spec.folds[0]}'s 3d_lowres model predicts them in-sample (nnU-Net trains all 5 folds, so every case is out-of-fold)`,
      );
      await first.predictNextStage({ cases: missing, mirroring: t.mirroring });
      return { outcome: 'done', detail: `${task.caseIds.length - missing.length} out-of-fold, ${missing.length} in-sample (fewer than 5 folds)` };
    }
    case 'find_best_configuration': {
      const configurations = spec.configurations.filter((c) => plans.hasConfiguration(c));
      const sel = await task.findBestConfiguration({ folds: spec.folds, plans: plans.plansName, configurations, disableEnsembling: spec.modelSelection.disableEnsembling });
      if (!sel.best) throw new Error(`model selection found no best candidate (a score is NaN); see ${path.join(task.paths.results, 'summary.csv')}`);
      return { outcome: 'done', detail: `best: ${sel.best}` };
    }
    case 'predict':
      return predictBest(spec, task, plans.plansName);
  }
}

/** Predicts the test folder with what model selection chose (a configuration, or the ensemble of two). */
async function predictBest(spec: ProtocolSpec, task: Task, plansName: string): Promise<{ outcome: StepOutcome; detail: string }> {
  const p = spec.predict!;
  const file = path.join(task.paths.results, 'inference_instructions.json');
  const ins = JSON.parse(fs.readFileSync(file, 'utf8')) as InferenceInstructions;
  const mirroring = p.mirroring ?? true;
  if (!ins.isEnsemble) {
    const r = await task.predict(p.input, { configuration: ins.configurations[0], folds: ins.folds, plansName, outputDir: p.output, mirroring, postprocessing: ins.postprocessingFile, progress: false });
    return { outcome: 'done', detail: `${ins.best}: ${r.cases.length} cases into ${p.output}` };
  }
  // v1 inference_instructions for an ensemble: each member with --save_npz, then nnUNet_ensemble with its postprocessing
  const members: string[] = [];
  for (const c of ins.configurations) {
    const out = path.join(path.dirname(p.output), `${path.basename(p.output)}_${c}`);
    await task.predict(p.input, { configuration: c, folds: ins.folds, plansName, outputDir: out, mirroring, saveProbabilities: true, postprocessing: false, progress: false });
    members.push(out);
  }
  const ids = await ensembleFolders(members, p.output, { postprocessing: readPostprocessingJson(ins.postprocessingFile) });
  return { outcome: 'done', detail: `${ins.best}: ${ids.length} cases into ${p.output}` };
}
