/**
 * The protocol's job graph without training: spec validation, the graph's steps and edges, locks (one owner, stale
 * takeover), states from files, the sbatch scripts and a dry-run submission, and the CLI's usage errors.
 * The end-to-end runs (local executor and a real Slurm cluster) are in test/reference/slurm_protocol.test.ts.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { validateSpec, ProtocolSpecError, specPlansName, type ProtocolSpec } from '../../sdk/protocol/spec';
import { buildProtocolGraph, stepGroups, dependentsOf, stepDepths } from '../../sdk/protocol/graph';
import { ProtocolStore, StepLockedError } from '../../sdk/protocol/store';
import { protocolStatus, stepOutputs } from '../../sdk/protocol/status';
import { sbatchScript, submitSlurm, formatSubmit } from '../../sdk/protocol/slurm';
import { graphFigure } from '../../sdk/viz/graph_figure';
import { assertValidFigure } from '../../sdk/viz/figure';
import { runCli as run } from '../helpers/cli';
import { CHECKPOINT_FORMAT, CHECKPOINT_VERSION } from '../../sdk/checkpoint/checkpoint';

function tmp(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'nnunet-protocol-'));
}

function spec(root: string, o: Partial<ProtocolSpec> = {}): ProtocolSpec {
  return validateSpec({
    version: 1,
    task: path.join(root, 'raw', 'Task99_Test'),
    roots: { preprocessed: path.join(root, 'pre'), results: path.join(root, 'res') },
    plans: { preset: 'nnUNetPlansv2.1', gpuMemoryTargetGB: 0.25 },
    configurations: ['3d_cascade_fullres', '2d', '3d_lowres', '3d_fullres'],
    folds: [1, 0],
    training: { epochs: 2 },
    modelSelection: {},
    predict: { input: path.join(root, 'raw', 'Task99_Test', 'imagesTs'), output: path.join(root, 'out') },
    ...o,
  });
}

const CASES = ['c1', 'c2', 'c3'];

/** The files of a training step: a checkpoint_final manifest (with its data files) of this schedule, a summary. */
function fakeTrained(outs: string[], state: { maxEpochs: number; iterationsPerEpoch: number; seed: number }, mtime?: number): void {
  const [ck, summary] = outs;
  fs.mkdirSync(path.dirname(summary), { recursive: true });
  const dir = path.dirname(ck);
  for (const f of ['w.json', 'w.bin', 'o.bin']) fs.writeFileSync(path.join(dir, f), '');
  const manifest = {
    format: CHECKPOINT_FORMAT,
    version: CHECKPOINT_VERSION,
    identity: {},
    saved_at: 'x',
    trainer_state: { epoch: state.maxEpochs, validationIterations: 1, momentum: 0.99, ema: 0, bestEma: 0, ...state },
    log_jsonl: '',
    weights: 'w',
    optimizer: { file: 'o.bin', lr: 0, buffers: [] },
  };
  fs.writeFileSync(ck, JSON.stringify(manifest));
  fs.writeFileSync(summary, '{}');
  if (mtime !== undefined) for (const f of outs) fs.utimesSync(f, mtime, mtime);
}
const caseIds = () => CASES;

describe('spec', () => {
  test('orders configurations and folds as nnU-Net v1; names the plans like planning does', () => {
    const s = spec('/r');
    assert.deepEqual(s.configurations, ['2d', '3d_lowres', '3d_fullres', '3d_cascade_fullres']);
    assert.deepEqual(s.folds, [0, 1]);
    assert.equal(specPlansName(s), 'nnUNetPlansv2.1_0p25GB');
    assert.equal(specPlansName(spec('/r', { plans: { preset: 'nnUNetPlansv2.1' } })), 'nnUNetPlansv2.1');
  });
  test('refuses what cannot run, naming the problem', () => {
    assert.throws(() => spec('/r', { configurations: ['3d_cascade_fullres'] }), /needs|3d_lowres/);
    assert.throws(() => spec('/r', { folds: [5] }), ProtocolSpecError);
    assert.throws(() => spec('/r', { folds: [0, 0] }), /twice/);
    assert.throws(() => spec('/r', { configurations: ['3d'] }), /unknown configuration/);
    assert.throws(() => spec('/r', { training: { epochs: 0 } }), /training.epochs/);
  });
});

describe('graph', () => {
  test('steps, dependencies and groups of the full protocol', () => {
    const g = buildProtocolGraph(spec('/r'));
    const ids = g.steps.map((s) => s.id);
    assert.deepEqual(ids, [
      'plan_and_preprocess',
      'train.2d.fold_0',
      'train.2d.fold_1',
      'train.3d_lowres.fold_0',
      'train.3d_lowres.fold_1',
      'train.3d_fullres.fold_0',
      'train.3d_fullres.fold_1',
      'pred_next_stage',
      'train.3d_cascade_fullres.fold_0',
      'train.3d_cascade_fullres.fold_1',
      'find_best_configuration',
      'predict',
    ]);
    // topological: every dependency listed before its step
    ids.forEach((id, i) => g.steps[i].deps.forEach((d) => assert.ok(ids.indexOf(d) < i, `${d} before ${id}`)));
    const by = (id: string) => g.steps.find((s) => s.id === id)!;
    assert.deepEqual(by('pred_next_stage').deps, ['train.3d_lowres.fold_0', 'train.3d_lowres.fold_1']);
    assert.deepEqual(by('train.3d_cascade_fullres.fold_1').deps, ['pred_next_stage']);
    assert.equal(by('find_best_configuration').deps.length, 8);
    assert.deepEqual(by('predict').deps, ['find_best_configuration']);
    assert.deepEqual(
      stepGroups(g).map((x) => `${x.group}:${x.steps.length}`),
      ['plan_and_preprocess:1', 'train.2d:2', 'train.3d_lowres:2', 'train.3d_fullres:2', 'pred_next_stage:1', 'train.3d_cascade_fullres:2', 'find_best_configuration:1', 'predict:1'],
    );
    assert.equal(stepDepths(g).get('predict'), 5);
    assert.ok(dependentsOf(g, 'train.3d_lowres.fold_1').has('train.3d_cascade_fullres.fold_0'));
    assert.ok(!dependentsOf(g, 'train.2d.fold_0').has('pred_next_stage'));
  });
  test('without the cascade there is no pred_next_stage; without a test folder no predict', () => {
    const g = buildProtocolGraph(spec('/r', { configurations: ['2d', '3d_fullres'], predict: null }));
    assert.deepEqual(g.steps.map((s) => s.kind), ['plan_and_preprocess', 'train', 'train', 'train', 'train', 'find_best_configuration']);
  });
});

describe('locks and states', () => {
  test('one owner per step; a dead owner is stale and taken over; release only removes our own lock', () => {
    const store = new ProtocolStore(tmp());
    const me = { host: os.hostname(), pid: process.pid, started: new Date().toISOString() };
    const release = store.acquire('train.2d.fold_0', me);
    assert.throws(() => store.acquire('train.2d.fold_0', { ...me, started: 'later' }), (e: unknown) => e instanceof StepLockedError && /already running \(pid \d+/.test(e.message));
    release();
    assert.equal(store.readLock('train.2d.fold_0'), null);
    // a lock left by a process that is gone (a pid that cannot exist)
    fs.writeFileSync(store.lockFile('train.2d.fold_0'), JSON.stringify({ host: os.hostname(), pid: 2 ** 22 + 7, started: 'x' }));
    const r2 = store.acquire('train.2d.fold_0', me);
    assert.equal(store.readLock('train.2d.fold_0')!.pid, process.pid);
    r2();
    // a lock of a Slurm job on another host: alive while the scheduler says so
    fs.writeFileSync(store.lockFile('p'), JSON.stringify({ host: 'node07', pid: 1234, jobId: '55_1', started: 'x' }));
    assert.throws(() => store.acquire('p', me, () => true), StepLockedError);
    assert.throws(() => store.acquire('p', me), StepLockedError, 'another host, no scheduler: assumed alive');
    store.acquire('p', me, (id) => (id === '55_1' ? false : null))();
  });

  test('states come from outputs, records and locks', () => {
    const root = tmp();
    const s = spec(root, { configurations: ['2d'], folds: [0, 1], predict: null });
    const store = ProtocolStore.of(s);
    const g = buildProtocolGraph(s);
    const st = () => Object.fromEntries(protocolStatus(s, store, caseIds).map((x) => [x.step, x.state]));
    assert.deepEqual(st(), { plan_and_preprocess: 'waiting', 'train.2d.fold_0': 'waiting', 'train.2d.fold_1': 'waiting', find_best_configuration: 'waiting' });
    const touch = (f: string) => (fs.mkdirSync(path.dirname(f), { recursive: true }), fs.writeFileSync(f, '{}'));
    const rec = (step: string, state: 'done' | 'failed' | 'running' | 'skipped', extra = {}) =>
      store.writeRecord({ step, state, host: os.hostname(), pid: 2 ** 22 + 7, started: 'x', log: `/logs/${step}.log`, ...extra });
    // planning: its files alone are not enough (preprocessing may have died after writing the plans)
    for (const f of stepOutputs(s, g.steps[0], caseIds)) touch(f);
    assert.equal(st().plan_and_preprocess, 'waiting');
    rec('plan_and_preprocess', 'done');
    assert.equal(st().plan_and_preprocess, 'done');
    // fold 0 trained: checkpoint_final + validation summary, but with another schedule: not this protocol's
    const outs0 = stepOutputs(s, g.steps[1], caseIds);
    assert.match(outs0[0], /nnUNetTrainerV2__nnUNetPlansv2\.1_0p25GB__2d\/fold_0\/checkpoint_final\.json$/);
    fakeTrained(outs0, { maxEpochs: 1000, iterationsPerEpoch: 250, seed: 12345 });
    assert.equal(st()['train.2d.fold_0'], 'waiting', 'trained for 1000 epochs, the spec asks for 2');
    fakeTrained(outs0, { maxEpochs: 2, iterationsPerEpoch: 250, seed: 12345 });
    assert.equal(st()['train.2d.fold_0'], 'done');
    // fold 1: failed, then killed while running (lock of a dead process)
    rec('train.2d.fold_1', 'failed', { detail: 'out of memory' });
    const failed = protocolStatus(s, store, caseIds).find((x) => x.step === 'train.2d.fold_1')!;
    assert.deepEqual([failed.state, failed.log, failed.detail], ['failed', '/logs/train.2d.fold_1.log', 'out of memory']);
    rec('train.2d.fold_1', 'running');
    fs.mkdirSync(path.dirname(store.lockFile('x')), { recursive: true });
    fs.writeFileSync(store.lockFile('train.2d.fold_1'), JSON.stringify({ host: os.hostname(), pid: 2 ** 22 + 7, started: 'x' }));
    assert.equal(st()['train.2d.fold_1'], 'interrupted');
    // ... and running while its owner lives
    fs.writeFileSync(store.lockFile('train.2d.fold_1'), JSON.stringify({ host: os.hostname(), pid: process.pid, started: 'x' }));
    assert.equal(st()['train.2d.fold_1'], 'running');
    // the queue: a pending job is 'queued'
    fs.rmSync(store.lockFile('train.2d.fold_1'));
    const queue = { pending: new Map([['train.2d.fold_1', '77_1']]), running: new Map(), jobAlive: () => true };
    assert.equal(protocolStatus(s, store, caseIds, queue).find((x) => x.step === 'train.2d.fold_1')!.state, 'queued');
  });

  test('model selection older than a retrained fold is not complete', () => {
    const root = tmp();
    const s = spec(root, { configurations: ['2d'], folds: [0], predict: null });
    const store = ProtocolStore.of(s);
    const g = buildProtocolGraph(s);
    const touch = (f: string, t: number) => {
      fs.mkdirSync(path.dirname(f), { recursive: true });
      fs.writeFileSync(f, '{}');
      fs.utimesSync(f, t, t);
    };
    fakeTrained(stepOutputs(s, g.steps[1], caseIds), { maxEpochs: 2, iterationsPerEpoch: 250, seed: 12345 }, 1000);
    for (const f of stepOutputs(s, g.steps[2], caseIds)) touch(f, 2000);
    const state = () => protocolStatus(s, store, caseIds).find((x) => x.step === 'find_best_configuration')!.state;
    assert.equal(state(), 'done');
    fakeTrained(stepOutputs(s, g.steps[1], caseIds), { maxEpochs: 2, iterationsPerEpoch: 250, seed: 12345 }, 3000);
    assert.equal(state(), 'waiting');
  });
});

describe('slurm scripts', () => {
  test('a job array per configuration, requeue on the time-limit signal, the step command', () => {
    const s = spec('/r');
    const store = ProtocolStore.of(s);
    const g = buildProtocolGraph(s);
    const steps = g.steps.filter((x) => x.group === 'train.3d_fullres');
    const sh = sbatchScript(s, 'train.3d_fullres', steps, { gres: 'gpu:1', gpuPartition: 'gpu', partition: 'cpu', gpuTime: '48:00:00', account: 'lab', signalLeadSeconds: 600, setup: ['module load nodejs/20'], command: ['nnunet-ts'] }, store);
    for (const line of [
      '#SBATCH --job-name=nnunet-ts.Task99_Test.train.3d_fullres',
      '#SBATCH --array=0,1',
      '#SBATCH --requeue',
      '#SBATCH --signal=B:USR1@600',
      '#SBATCH --gres=gpu:1',
      '#SBATCH --partition=gpu',
      '#SBATCH --time=48:00:00',
      '#SBATCH --account=lab',
      'module load nodejs/20',
      'STEP="train.3d_fullres.fold_${SLURM_ARRAY_TASK_ID}"',
      `'nnunet-ts' protocol step --spec '${store.specFile}' --step "$STEP"`,
      'scontrol requeue "$SLURM_JOB_ID"',
      // only the time-limit signal requeues; scancel's TERM leaves the job cancelled
      `REQUEUE=1; kill -USR1 $PID' USR1`,
      '[ $REQUEUE -eq 1 ]',
    ])
      assert.ok(sh.includes(line), `script lacks: ${line}\n${sh}`);
    const plan = sbatchScript(s, 'plan_and_preprocess', [g.steps[0]], { gres: 'gpu:1', partition: 'cpu', command: ['nnunet-ts'] }, store);
    assert.ok(!plan.includes('--gres') && !plan.includes('--array') && plan.includes('--partition=cpu') && plan.includes('STEP="plan_and_preprocess"'));
    // the script is valid bash
    const f = path.join(tmp(), 'x.sbatch');
    fs.writeFileSync(f, sh);
    assert.equal(spawnSync('bash', ['-n', f]).status, 0);
  });

  test('dry run: every unfinished group once, afterok edges between them, finished steps left out', () => {
    const root = tmp();
    const s = spec(root);
    const store = ProtocolStore.of(s);
    const g = buildProtocolGraph(s);
    store.writeRecord({ step: 'plan_and_preprocess', state: 'done', host: 'h', pid: 1, started: 'x' });
    for (const f of stepOutputs(s, g.steps[0], caseIds)) (fs.mkdirSync(path.dirname(f), { recursive: true }), fs.writeFileSync(f, '{}'));
    fakeTrained(stepOutputs(s, g.steps[1], caseIds), { maxEpochs: 2, iterationsPerEpoch: 250, seed: 12345 });
    const r = submitSlurm(s, caseIds, { dryRun: true, command: ['nnunet-ts'] });
    const by = (gr: string) => r.jobs.find((j) => j.group === gr)!;
    assert.deepEqual(r.jobs.map((j) => j.group), ['train.2d', 'train.3d_lowres', 'train.3d_fullres', 'pred_next_stage', 'train.3d_cascade_fullres', 'find_best_configuration', 'predict']);
    assert.deepEqual(by('train.2d').steps, ['train.2d.fold_1'], 'fold 0 of 2d is complete');
    assert.ok(by('train.2d').script.includes('--array=1\n'));
    assert.equal(by('train.2d').dependency, '', 'planning is done: no edge');
    assert.equal(by('pred_next_stage').dependency, 'afterok:<train.3d_lowres>');
    assert.equal(by('find_best_configuration').dependency, 'afterok:<train.2d>:<train.3d_lowres>:<train.3d_fullres>:<train.3d_cascade_fullres>');
    assert.match(formatSubmit(r), /not submitted {2}plan_and_preprocess: done/);
    assert.equal(fs.existsSync(store.specFile), false, 'a dry run writes nothing');
  });

  test('the graph figure draws every step coloured by state', () => {
    const fig = graphFigure(
      [
        { id: 'a', deps: [], state: 'done' },
        { id: 'b', deps: ['a'], state: 'failed' },
        { id: 'c', deps: ['a'], state: 'waiting' },
      ],
      { title: 't' },
    );
    assertValidFigure(fig);
    assert.equal(fig.data.length, 3);
    assert.equal((fig.layout.annotations as unknown[]).length, 2);
  });
});

describe('CLI', () => {
  test('usage errors exit 2 and say what is wrong', async () => {
    assert.match((await run(['protocol'])).err, /needs an action: run, submit, status, cancel, step/);
    assert.equal((await run(['protocol', 'run'])).code, 2);
    assert.match((await run(['protocol', 'run', '-t', '/nope', '-f', '7'])).err, /folds are 0..4/);
    assert.match((await run(['protocol', 'submit', '-t', '/x', '--scheduler', 'pbs'])).err, /slurm or local/);
    assert.match((await run(['protocol', 'step', '--step', 'x'])).err, /--spec/);
    const missing = await run(['protocol', 'status', '--spec', '/nope/protocol.json']);
    assert.equal(missing.code, 1);
    assert.match(missing.err, /\/nope\/protocol\.json: no such protocol file/);
  });
});
