// reference suite: slurm-wlm + munge (apt), root -- the protocol on a real one-node Slurm cluster equals a local run; a time-limit signal requeues a training, a scancelled one resumes
/**
 * The issue's check of the job graph, with real components: a one-node Slurm cluster (test/helpers/slurm_cluster.ts)
 * and a small real task (10 hippocampus cases, planned for a 0.02 GB GPU target so the cascade exists and a training
 * step is fast on a CPU). The whole protocol (2d, 3d_lowres, 3d_fullres, 3d_cascade_fullres on folds 0 and 1,
 * pred_next_stage, model selection, test prediction) runs once with the local executor and once as Slurm jobs; one
 * training gets the time-limit signal (USR1 to its batch shell) and must checkpoint, requeue itself and resume; one
 * training job is scancelled mid-way and the protocol resubmitted. The two runs must give the same model-selection
 * table, the same selected model and the same test segmentations, and the cancelled training must continue from its
 * checkpoint (its first epochs predate the cancel).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Task } from '../../sdk/task';
import type { Protocol, ProtocolOptions } from '../../sdk/protocol/protocol';
import { readQueue } from '../../sdk/protocol/slurm';
import { formatStatus, stepOutputs } from '../../sdk/protocol/status';
import { readNifti } from '../../sdk/io/nifti';
import { startSlurmCluster, slurmUnavailable, type SlurmCluster } from '../helpers/slurm_cluster';
import { hippocampusSubset } from '../helpers/hippocampus_subset';

let cluster: SlurmCluster | null = null;
let root: string;
let taskDir: string;

const OPTIONS: ProtocolOptions = {
  configurations: ['2d', '3d_lowres', '3d_fullres', '3d_cascade_fullres'],
  folds: [0, 1],
  gpuMemoryTargetGB: 0.02,
  training: { epochs: 3, iterationsPerEpoch: 2, validationIterations: 1, checkpointEvery: 1, gradientWorkers: 0, mirroring: false, seed: 3 },
  predict: { mirroring: false },
};
const CANCELLED = 'train.3d_fullres.fold_1';
const SIGNALLED = 'train.2d.fold_0';

before(async () => {
  const why = slurmUnavailable();
  if (why) throw new Error(`this reference test needs a Slurm cluster: ${why}`);
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'nnunet-slurm-protocol-'));
  taskDir = hippocampusSubset(path.join(root, 'raw'));
  cluster = await startSlurmCluster();
  process.env.SLURM_CONF = cluster.conf;
  process.env.NNUNET_PROGRESS = '0';
});

after(() => {
  cluster?.stop();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function protocolIn(work: string): Promise<Protocol> {
  const task = await Task.load(taskDir, { workDir: work });
  return task.protocol(OPTIONS);
}

async function waitFor<T>(what: string, f: () => T | null | undefined | false, timeoutS: number, p?: Protocol): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = f();
    if (v) return v;
    if ((Date.now() - t0) / 1000 > timeoutS) throw new Error(`timed out after ${timeoutS} s waiting for ${what}${p ? `\n${formatStatus(p.status())}` : ''}`);
    await sleep(500);
  }
}

const finished = (p: Protocol) => {
  const q = readQueue(p.spec)!;
  return p.status().every((s) => ['done', 'skipped', 'failed'].includes(s.state)) && q.pending.size + q.running.size === 0;
};

test('the protocol on Slurm (with a scancelled, resubmitted training) equals a local run', { timeout: 60 * 60 * 1000 }, async () => {
  // 1. local executor, 2 steps at a time
  const local = await protocolIn(path.join(root, 'local'));
  const t0 = Date.now();
  const lr = await local.run({ jobs: 2, print: () => undefined });
  const localS = (Date.now() - t0) / 1000;
  assert.ok(lr.ok, `local run failed:\n${formatStatus(lr.status)}`);
  console.log(`local run: ${lr.ran.length} steps in ${localS.toFixed(0)} s`);

  // 2. the same graph as Slurm jobs
  const slurm = await protocolIn(path.join(root, 'slurm'));
  const first = slurm.submit({ cpus: 1, gpuCpus: 1, signalLeadSeconds: 60 });
  assert.deepEqual(first.jobs.map((j) => j.group), ['plan_and_preprocess', 'train.2d', 'train.3d_lowres', 'train.3d_fullres', 'pred_next_stage', 'train.3d_cascade_fullres', 'find_best_configuration', 'predict']);
  assert.ok(first.jobs.slice(1).every((j) => j.dependency.startsWith('afterok:')));
  const script = fs.readFileSync(first.jobs.find((j) => j.group === 'train.3d_fullres')!.scriptFile, 'utf8');
  assert.match(script, /#SBATCH --array=0,1\n/);

  // 3a. the time-limit path: USR1 to a training's batch shell (what --signal=B:USR1@lead sends before the limit);
  // the training checkpoints at its epoch end, exits 99, and the job requeues itself and resumes
  const sigStep = slurm.graph.steps.find((s) => s.id === SIGNALLED)!;
  const [sigFinal] = stepOutputs(slurm.spec, sigStep, () => []);
  const sigLatest = path.join(path.dirname(sigFinal), 'checkpoint_latest.json');
  // right after its first epoch (checkpoint_latest at epoch 1), so the signal lands before the last epoch starts
  const epochOf = (f: string) => {
    try {
      return (JSON.parse(fs.readFileSync(f, 'utf8')) as { trainer_state?: { epoch?: number } }).trainer_state?.epoch ?? null;
    } catch {
      return null;
    }
  };
  const sigJob = await waitFor(`${SIGNALLED} to write checkpoint_latest`, () => epochOf(sigLatest) === 1 && !fs.existsSync(sigFinal) && readQueue(slurm.spec)!.running.get(SIGNALLED), 1500, slurm);
  const signalledAt = Date.now();
  const us = spawnSync('scancel', ['--signal=USR1', '--batch', sigJob], { encoding: 'utf8' });
  assert.equal(us.status, 0, us.stderr);

  // 3b. scancel one training after its first checkpoint, before its end
  const step = slurm.graph.steps.find((s) => s.id === CANCELLED)!;
  const [finalCk] = stepOutputs(slurm.spec, step, () => []);
  const latest = path.join(path.dirname(finalCk), 'checkpoint_latest.json');
  const jobId = await waitFor(`${CANCELLED} to write checkpoint_latest`, () => fs.existsSync(latest) && !fs.existsSync(finalCk) && readQueue(slurm.spec)!.running.get(CANCELLED), 1500, slurm);
  const cancelledAt = Date.now();
  const sc = spawnSync('scancel', [jobId], { encoding: 'utf8' });
  assert.equal(sc.status, 0, sc.stderr);
  await waitFor(`job ${jobId} to leave the queue`, () => !readQueue(slurm.spec)!.running.has(CANCELLED), 120, slurm);
  await waitFor(`the cancelled step's process to end`, () => slurm.status().find((s) => s.step === CANCELLED)!.state !== 'running', 120, slurm);
  assert.ok(!fs.existsSync(finalCk), 'the cancelled training had not finished');
  assert.equal(slurm.status().find((s) => s.step === CANCELLED)!.state, 'interrupted');
  const epochAtCancel = epochOf(latest);

  // 4. resubmit: finished steps are left out, running ones kept, the rest (re)submitted
  const again = slurm.submit({ cpus: 1, gpuCpus: 1, signalLeadSeconds: 60 });
  const resubmitted = again.jobs.flatMap((j) => j.steps);
  assert.ok(resubmitted.includes(CANCELLED), `resubmission lacks ${CANCELLED}: ${resubmitted.join(' ')}`);
  assert.ok(!resubmitted.includes('plan_and_preprocess'));
  for (const s of again.notSubmitted) assert.ok(['done', 'skipped', 'running'].includes(s.state));
  await waitFor('every step to finish', () => finished(slurm), 3000, slurm);
  const st = slurm.status();
  assert.ok(st.every((s) => s.state === 'done' || s.state === 'skipped'), formatStatus(st));

  // the cancelled training continued from its checkpoint: its first epochs were logged before the cancel
  const log = fs.readFileSync(path.join(path.dirname(finalCk), 'training_log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(log.length, 3);
  assert.ok(Date.parse(log[0].timestamp) < cancelledAt, `epoch 0 of ${CANCELLED} was logged after the cancel: it started over`);
  const jobLogs = fs.readdirSync(slurm.store.logDir).filter((f) => f.startsWith(`${CANCELLED}.job_`));
  assert.equal(jobLogs.length, 2, `two jobs ran ${CANCELLED}: ${jobLogs.join(' ')}`);
  const resumedLog = jobLogs.map((f) => fs.readFileSync(path.join(slurm.store.logDir, f), 'utf8')).find((t) => /resuming from it/.test(t));
  assert.ok(resumedLog, `no job log of ${CANCELLED} says it resumed (epoch at cancel: ${epochAtCancel})`);

  // the signalled training: checkpointed, asked Slurm to requeue it, resumed, finished. The resumption is either the
  // requeued job (same job, same log file) or, when the resubmission in 4 found it still pending after its requeue,
  // the fresh job that replaced it (the resubmission cancels pending jobs): both must resume, never start over
  const sigLogs = fs.readdirSync(slurm.store.logDir).filter((f) => f.startsWith(`${SIGNALLED}.job_`)).map((f) => fs.readFileSync(path.join(slurm.store.logDir, f), 'utf8'));
  const signalled = sigLogs.find((t) => t.includes('time limit near'));
  assert.ok(signalled, `no job log of ${SIGNALLED} shows the signal:\n${sigLogs.join('\n---\n')}`);
  assert.ok(signalled.includes('checkpointed; requeueing job'), `the signalled job of ${SIGNALLED} did not requeue itself:\n${signalled}`);
  assert.ok(sigLogs.some((t) => t.includes('resuming from it')), `no job log of ${SIGNALLED} says it resumed:\n${sigLogs.join('\n---\n')}`);
  const sigTrainLog = fs.readFileSync(path.join(path.dirname(sigFinal), 'training_log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(sigTrainLog.length, 3);
  assert.ok(Date.parse(sigTrainLog[0].timestamp) < signalledAt, `${SIGNALLED} started over after its requeue`);

  // 5. same results as the local run
  const rs = (p: Protocol, f: string) => fs.readFileSync(path.join(p.spec.roots.results, path.basename(taskDir), f), 'utf8');
  assert.equal(rs(slurm, 'summary.csv'), rs(local, 'summary.csv'));
  assert.equal(JSON.parse(rs(slurm, 'inference_instructions.json')).best, JSON.parse(rs(local, 'inference_instructions.json')).best);
  const preds = fs.readdirSync(local.spec.predict!.output).filter((f) => f.endsWith('.nii.gz'));
  assert.equal(preds.length, 2);
  for (const f of preds) {
    const a = await readNifti(path.join(local.spec.predict!.output, f));
    const b = await readNifti(path.join(slurm.spec.predict!.output, f));
    assert.deepEqual(Array.from(b.data), Array.from(a.data), `test prediction ${f} differs between the local and the Slurm run`);
  }
  console.log(`model selection (both runs):\n${rs(local, 'summary.csv')}`);
});
