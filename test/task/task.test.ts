import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Task, StepError, Fingerprint, Plans, loadPlans } from '../../sdk';
import { ensureSynthLung, FIXTURES } from '../helpers/synthlung';

process.env.NNUNET_PROGRESS = '0';

function tmpWork(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'nnunet-task-'));
}
// One work folder for the tests that only read the fingerprint: it is computed once, then served from the cache.
const shared = tmpWork();

test('the whole chain runs with no intermediate awaits and leaves nnU-Net artifacts', async () => {
  const work = tmpWork();
  const dir = await ensureSynthLung();
  const fold = await Task.load(dir, { workDir: work, threads: 2 }).fingerprint().plan().fold(0);
  const pre = path.join(work, 'nnUNet_preprocessed', 'Task06_SynthLung');
  for (const f of ['dataset_fingerprint.json', 'nnUNetPlansv2.1.json', 'splits_final.json']) {
    assert.ok(fs.existsSync(path.join(pre, f)), `${f} written`);
  }
  assert.equal(fold.trainCases.length + fold.valCases.length, 8);
  assert.equal(fold.valCases.length, 2);
  // plans equal the official synthlung v1 3D plan (the planner's own tests check every field)
  const official = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'synthlung/key_numbers.json'), 'utf8')).default.v1.plans_3D.stages[0];
  assert.deepEqual(fold.plans.configuration('3d_fullres').patch_size, official.patch_size);
  assert.equal(fold.plans.configuration('3d_fullres').batch_size, official.batch_size);
});

test('awaiting again reuses the cached fingerprint (no recomputation)', async () => {
  const work = shared;
  const dir = await ensureSynthLung();
  const fp1 = await Task.load(dir, { workDir: work, threads: 1 }).fingerprint();
  const file = path.join(work, 'nnUNet_preprocessed', 'Task06_SynthLung', 'dataset_fingerprint.json');
  const mtime = fs.statSync(file).mtimeMs;
  const t0 = Date.now();
  const fp2 = await Task.load(dir, { workDir: work }).fingerprint();
  assert.ok(Date.now() - t0 < 2000, 'cached fingerprint loads fast');
  assert.equal(fs.statSync(file).mtimeMs, mtime, 'file not rewritten');
  assert.deepEqual(fp2.toJSON().shapes_after_crop, fp1.toJSON().shapes_after_crop);
});

test('resolved objects keep chaining: task -> fingerprint -> plan -> override -> fold', async () => {
  const work = shared;
  const task = await Task.load((await ensureSynthLung()), { workDir: work, threads: 1 });
  assert.match(task.summary(), /Task06_SynthLung|SynthLung/);
  assert.equal(task.table().numRows(), 8);
  const fp = await task.fingerprint();
  assert.ok(fp instanceof Fingerprint);
  const plans = await fp.plan();
  assert.ok(plans instanceof Plans);
  const net = plans.network('3d_fullres');
  assert.ok(net.parameterCount && net.parameterCount > 1e6, 'task-attached plans know the classes');
  assert.equal(net.parameterCount, plans.network('3d_fullres', { numClasses: 2, numInputChannels: 1 }).parameterCount);
  assert.equal(new Plans(plans.toJSON()).network('3d_fullres').parameterCount, undefined, 'detached plans: no class count');
  const small = plans.override({ '3d_fullres': { batch_size: 1 } });
  assert.equal(small.configuration('3d_fullres').batch_size, 1);
  const f = await small.fold(1);
  assert.equal(f.plans.configuration('3d_fullres').batch_size, 1);
  assert.equal(f.fold, 1);
  // named overrides train into their own model folder
  const named = await plans.override({ '3d_fullres': { batch_size: 1 } }, { plansName: 'nnUNetPlansv2.1_bs1' }).fold(1);
  assert.match(named.outputDir('3d_fullres'), /nnUNetTrainerV2__nnUNetPlansv2\.1_bs1__3d_fullres[\\/]fold_1$/);
  assert.equal(plans.plansName, 'nnUNetPlansv2.1', 'the original plans keep their name');
  assert.throws(() => plans.override({}, { plansName: '../x' }), /folder-safe/);
});

test('errors surface at the await naming the failing step', async () => {
  const work = tmpWork();
  await assert.rejects(Task.load(path.join(work, 'nope'), { workDir: work }).fingerprint().plan(), (e: unknown) => {
    assert.ok(e instanceof StepError);
    assert.match(e.message, /step 'Task\.load\(.*nope.*\)' failed/);
    assert.match(e.message, /no such task folder/);
    return true;
  });
  await assert.rejects(Task.load((await ensureSynthLung()), { workDir: shared }).plan().fold(7), (e: unknown) => {
    assert.ok(e instanceof StepError);
    assert.match(e.chain, /^Task\.load\(".*"\) → plan\(\) → fold\(7\)$/, 'the whole chain');
    assert.match(e.message, /fold 7 does not exist/);
    return true;
  });
  // called on an awaited object, the error still shows the chain that made it
  const plans = await Task.load((await ensureSynthLung()), { workDir: shared }).plan();
  await assert.rejects(plans.override({ '2d': { batch_size: 2 } }).fold(9), (e: unknown) => {
    assert.ok(e instanceof StepError);
    assert.match(e.chain, /^Task\.load\(".*"\) → fingerprint\(\) → plan\(\) → override\(\) → fold\(9\)$/);
    return true;
  });
  // plans read from a file are plain data: no steps hang off them
  const file = path.join(shared, 'nnUNet_preprocessed', 'Task06_SynthLung', 'nnUNetPlansv2.1.json');
  assert.equal((loadPlans(file) as unknown as { fold?: unknown }).fold, undefined);
});

test('a hand-edited splits_final.json is reused, one naming unknown cases is refused', async () => {
  const work = tmpWork();
  const task = await Task.load((await ensureSynthLung()), { workDir: work });
  const custom = [{ train: ['lung_001', 'lung_002'], val: ['lung_003'] }];
  fs.mkdirSync(path.dirname(task.splitsFile), { recursive: true });
  fs.writeFileSync(task.splitsFile, JSON.stringify(custom));
  assert.deepEqual(await task.splits(), custom);
  fs.writeFileSync(task.splitsFile, JSON.stringify([{ train: ['lung_999'], val: [] }]));
  await assert.rejects(task.splits(), /lung_999.*not in/);
});

test('fold(k).train() chains into the trainer and writes the nnU-Net results layout', async () => {
  const chain = Task.load((await ensureSynthLung()), { workDir: shared })
    .plan({ overrides: { '2d': { patch_size: [32, 32], batch_size: 2 } } })
    .fold(0)
    .train({ configuration: '2d', epochs: 1, iterationsPerEpoch: 2, validationIterations: 1, validate: false, numThreads: 0, progress: false });
  const result = await chain;
  const foldDir = path.join(shared, 'nnUNet_results', 'Task06_SynthLung', 'nnUNetTrainerV2__nnUNetPlansv2.1__2d', 'fold_0');
  assert.equal(result.outputDir, foldDir);
  assert.equal(result.log.length, 1);
  assert.ok(Number.isFinite(result.log[0].train_loss));
  assert.ok(fs.readdirSync(foldDir).some((f) => f.startsWith('checkpoint_final')), 'final checkpoint written');
  assert.ok(fs.existsSync(path.join(foldDir, 'training_log.jsonl')));
  // awaiting the same chain again (a re-run notebook cell) reuses the finished run; force retrains
  const again = await Task.load((await ensureSynthLung()), { workDir: shared })
    .plan({ overrides: { '2d': { patch_size: [32, 32], batch_size: 2 } } })
    .fold(0)
    .train({ configuration: '2d', epochs: 1, iterationsPerEpoch: 2, validationIterations: 1, validate: false, numThreads: 0, progress: false });
  assert.equal(again.reused, true);
  assert.deepEqual(again.log.map((e) => e.train_loss), result.log.map((e) => e.train_loss));
  assert.equal(fs.statSync(again.checkpoint).mtimeMs, fs.statSync(result.checkpoint).mtimeMs);
});

test('task.predict() uses the trained model folder (plans.json saved at training) and writes NIfTI in input geometry', async () => {
  const { readNifti } = await import('../../sdk/io/nifti');
  const task = await Task.load((await ensureSynthLung()), { workDir: shared });
  const folder = task.modelFolder('2d');
  assert.ok(fs.existsSync(path.join(folder, 'plans.json')), 'the trained plans are stored with the model');
  // a 3-slice excerpt of the test case keeps this fast (a 2D model predicts slice by slice)
  const full = await readNifti(path.join(task.dir, 'imagesTs', 'lung_009.nii.gz'));
  const [, y, x] = full.shape;
  const img = { ...full, data: full.data.slice(40 * y * x, 43 * y * x), shape: [3, y, x] as [number, number, number] };
  const out = path.join(shared, 'pred_2d');
  const result = await task.predict([{ id: 'lung_009', images: [img] }], { configuration: '2d', outputDir: out, folds: [0], mirroring: false, progress: false });
  assert.equal(result.cases.length, 1);
  assert.ok(result.cases[0].ok, result.cases[0].error);
  const pred = await readNifti(path.join(out, 'lung_009.nii.gz'));
  assert.deepEqual(pred.shape, img.shape);
  assert.deepEqual(pred.spacing, img.spacing);
  assert.deepEqual(pred.origin, img.origin);
  assert.deepEqual(pred.direction, img.direction);
  // the same call again reuses the prediction; force predicts again
  const again = await task.predict([{ id: 'lung_009', images: [img] }], { configuration: '2d', outputDir: out, folds: [0], mirroring: false, progress: false });
  assert.equal(again.cases[0].reused, true);
  const forced = await task.predict([{ id: 'lung_009', images: [img] }], { configuration: '2d', outputDir: out, folds: [0], mirroring: false, progress: false, force: true });
  assert.ok(forced.cases[0].ok && !forced.cases[0].reused);
  await assert.rejects(task.predict(out, { configuration: '3d_lowres', outputDir: out }), /no trained model/);
});

test('a rewritten raw file invalidates the cached fingerprint and that case\'s preprocessing, not the others', async () => {
  const copy = path.join(tmpWork(), 'Task06_SynthLung');
  fs.cpSync(await ensureSynthLung(), copy, { recursive: true });
  const work = tmpWork();
  const task = await Task.load(copy, { workDir: work, threads: 1 });
  await task.fingerprint();
  const fpStamp = fs.statSync(task.fingerprintFile).mtimeMs;
  await task.fingerprint();
  assert.equal(fs.statSync(task.fingerprintFile).mtimeMs, fpStamp, 'unchanged raw files: cached');
  const plans = await task.plan();
  const pre = await plans.preprocess('2d', { caseIds: ['lung_001', 'lung_002'] });
  const stamp = (id: string) => fs.statSync(path.join(pre.dir, `${id}.json`)).mtimeMs;
  const before = { a: stamp('lung_001'), b: stamp('lung_002') };
  // rewrite one raw image (same bytes, new modification time: as a re-export or copy would)
  const img = path.join(copy, 'imagesTr', 'lung_001.nii.gz');
  const later = new Date(fs.statSync(img).mtimeMs + 10_000);
  fs.utimesSync(img, later, later);
  await task.fingerprint();
  assert.notEqual(fs.statSync(task.fingerprintFile).mtimeMs, fpStamp, 'fingerprint recomputed');
  await plans.preprocess('2d', { caseIds: ['lung_001', 'lung_002'] });
  assert.notEqual(stamp('lung_001'), before.a, 'the rewritten case is preprocessed again');
  assert.equal(stamp('lung_002'), before.b, 'the other case is reused');
});
