/**
 * predictCases on a tiny trained model (test/training/trainer_fixture.ts): output geometry = input geometry, Dice
 * equal to the fold's validation Dice on the same cases, fold ensembling of identical models = one model, bad
 * inputs reported per case while the others succeed, the cascade at test time, cascadeOneHot on a hand example.
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { initBackend } from '../../sdk/network/backend';
import { readNifti, writeNifti } from '../../sdk/io/nifti';
import { makeVolume } from '../../sdk/io/volume';
import { readSummaryJson } from '../../sdk/evaluation/evaluator';
import { evaluateFolder } from '../../sdk/evaluation/folders';
import { trainFold } from '../../sdk/training/trainer';
import { trainedFoldFolder, predNextStageFolder } from '../../sdk/paths';
import { loadTrainedNetwork } from '../../sdk/checkpoint/checkpoint';
import { cascadeOneHot, predictNextStage } from '../../sdk/inference/cascade';
import { listInputCases, predictCases, PredictionError } from '../../sdk/inference/predict';
import { TinyTask, tinyTask } from '../training/trainer_fixture';

let task: TinyTask;
let results: string;
let fold0: string;

function imagesDir(): string {
  return path.join(task.dataset.dir, 'imagesTr');
}

before(async () => {
  process.env.NNUNET_PROGRESS = '0';
  await initBackend({ backend: process.env.NNUNET_BACKEND ? undefined : 'auto', log: false });
  task = await tinyTask();
  results = path.join(task.root, 'predict_results');
  fold0 = trainedFoldFolder(results, 'Task99_Tiny', task.plans.plansName, '3d_fullres', 0);
  await trainFold({
    plans: task.plans,
    configuration: '3d_fullres',
    preprocessedDir: task.preprocessed['3d_fullres'],
    trainCases: task.train,
    valCases: task.val,
    outputDir: fold0,
    fold: 0,
    dataset: task.dataset,
    epochs: 2,
    iterationsPerEpoch: 4,
    validationIterations: 1,
    numThreads: 0,
    progress: false,
    validate: true,
    seed: 3,
  });
});

describe('predictCases', () => {
  test('reuse: a case made from the same input, model and settings is not predicted again; a change invalidates it', async () => {
    const out = path.join(task.root, 'pred_reuse');
    const base = {
      plans: task.plans,
      configuration: '3d_fullres',
      foldFolders: [fold0],
      input: imagesDir(),
      caseIds: task.val.slice(0, 2),
      outputDir: out,
      postprocessing: false as const,
      progress: false,
      mirroring: false,
      reuse: true,
    };
    const first = await predictCases(base);
    assert.ok(first.cases.every((c) => c.ok && !c.reused));
    const file = first.cases[0].file!;
    const bytes = fs.readFileSync(file);
    const again = await predictCases(base);
    assert.ok(again.cases.every((c) => c.reused), 'same input, model and settings: reused');
    assert.ok(fs.readFileSync(file).equals(bytes));
    // other settings (mirroring) are another prediction
    const mirrored = await predictCases({ ...base, mirroring: true });
    assert.ok(mirrored.cases.every((c) => !c.reused));
    // a touched input file invalidates that case only
    const id0 = first.cases[0].id;
    const input0 = path.join(imagesDir(), `${id0}.nii.gz`);
    const later = new Date(fs.statSync(input0).mtimeMs + 5000);
    fs.utimesSync(input0, later, later);
    const touched = await predictCases({ ...base, mirroring: true });
    assert.deepEqual(touched.cases.map((c) => Boolean(c.reused)), [false, true]);
    // a missing output is predicted again
    fs.rmSync(file);
    const rewritten = await predictCases({ ...base, mirroring: true });
    assert.equal(rewritten.cases[0].reused, undefined);
    assert.ok(fs.existsSync(file));
  });

  test('writes the input geometry and reproduces the validation Dice of the same model on the same cases', async () => {
    const out = path.join(task.root, 'pred_single');
    const r = await predictCases({
      plans: task.plans,
      configuration: '3d_fullres',
      foldFolders: [fold0],
      input: imagesDir(),
      caseIds: task.val,
      outputDir: out,
      postprocessing: false,
      progress: false,
    });
    assert.equal(r.failed.length, 0);
    assert.deepEqual(r.cases.map((c) => c.id), [...task.val].sort());
    for (const id of task.val) {
      const img = await readNifti(path.join(imagesDir(), `${id}.nii.gz`));
      const pred = await readNifti(path.join(out, `${id}.nii.gz`));
      assert.ok(pred.data instanceof Uint8Array, 'uint8 labels');
      assert.deepEqual(pred.shape, img.shape);
      assert.deepEqual(pred.spacing, img.spacing);
      assert.deepEqual(pred.origin, img.origin);
      assert.deepEqual(pred.direction, img.direction);
      // the same network on the same case: voxel-identical to the trainer's validation export
      const val = await readNifti(path.join(fold0, 'validation_raw', `${id}.nii.gz`));
      assert.ok(Array.from(pred.data).every((v, i) => v === val.data[i]), `${id}: prediction differs from validation_raw`);
    }
    // Dice against the raw references, compared with the trainer's validation summary (validation_raw/summary.json)
    const gt = path.join(task.root, 'pred_single_gt');
    fs.mkdirSync(gt, { recursive: true });
    for (const id of task.val) fs.copyFileSync(path.join(task.dataset.dir, 'labelsTr', `${id}.nii.gz`), path.join(gt, `${id}.nii.gz`));
    const ev = await evaluateFolder(gt, out, [0, 1, 2], { writeSummary: false });
    const val = readSummaryJson(path.join(fold0, 'validation_raw', 'summary.json'));
    for (const l of ['1', '2']) {
      const a = (ev.mean[l] as Record<string, number>).Dice;
      const b = (val.results.mean[l] as Record<string, number>).Dice;
      assert.ok(Number.isFinite(b), `validation Dice of label ${l}`);
      assert.equal(a, b, `label ${l}: predict Dice ${a} vs validation Dice ${b}`);
    }
  });

  test('two identical folds give exactly the one-model result; probabilities saved; postprocessing.json applied by default', async () => {
    const one = path.join(task.root, 'pred_one');
    const two = path.join(task.root, 'pred_two');
    const base = { plans: task.plans, configuration: '3d_fullres', input: imagesDir(), caseIds: task.val.slice(0, 1), progress: false };
    await predictCases({ ...base, foldFolders: [fold0], outputDir: one, postprocessing: false, mirroring: false });
    const r2 = await predictCases({ ...base, foldFolders: [fold0, fold0], outputDir: two, postprocessing: false, mirroring: false, saveProbabilities: true });
    const id = task.val[0];
    const a = await readNifti(path.join(one, `${id}.nii.gz`));
    const b = await readNifti(path.join(two, `${id}.nii.gz`));
    assert.deepEqual(Array.from(b.data), Array.from(a.data));
    assert.ok(fs.existsSync(path.join(two, `${id}.npy`)) && fs.existsSync(path.join(two, `${id}.json`)));
    assert.deepEqual(r2.folds, ['fold_0', 'fold_0']);
    // the model folder's postprocessing.json (written by the trainer's validation) is picked up by default
    const modelFolder = path.dirname(fold0);
    fs.copyFileSync(path.join(fold0, 'postprocessing.json'), path.join(modelFolder, 'postprocessing.json'));
    const r3 = await predictCases({ ...base, modelFolder, folds: [0], outputDir: path.join(task.root, 'pred_pp'), mirroring: false });
    assert.ok(r3.postprocessing, 'postprocessing.json loaded');
    fs.rmSync(path.join(modelFolder, 'postprocessing.json'));
  });

  test('bad inputs are reported per case with id and file; the other cases are still predicted', async () => {
    const inDir = path.join(task.root, 'pred_bad_in');
    const out = path.join(task.root, 'pred_bad_out');
    fs.mkdirSync(inDir, { recursive: true });
    const good = task.val[0];
    fs.copyFileSync(path.join(imagesDir(), `${good}.nii.gz`), path.join(inDir, `${good}_0000.nii.gz`));
    fs.writeFileSync(path.join(inDir, 'broken_0000.nii.gz'), 'not a nifti');
    const img = await readNifti(path.join(imagesDir(), `${good}.nii.gz`));
    await writeNifti(path.join(inDir, 'twoch_0000.nii.gz'), img);
    await writeNifti(path.join(inDir, 'twoch_0001.nii.gz'), img);
    assert.deepEqual(listInputCases(inDir).map((c) => c.id), ['broken', good, 'twoch'].sort());
    let err: PredictionError | null = null;
    try {
      await predictCases({ plans: task.plans, configuration: '3d_fullres', foldFolders: [fold0], input: inDir, outputDir: out, mirroring: false, progress: false });
    } catch (e) {
      err = e as PredictionError;
    }
    assert.ok(err instanceof PredictionError, 'throws at the end');
    const byId = new Map(err.result.cases.map((c) => [c.id, c]));
    assert.equal(byId.get(good)?.ok, true);
    assert.ok(fs.existsSync(path.join(out, `${good}.nii.gz`)));
    assert.match(byId.get('broken')?.error ?? '', /broken_0000\.nii\.gz/);
    assert.match(byId.get('twoch')?.error ?? '', /twoch_0000\.nii\.gz.*2 channel\(s\), the model expects 1/);
    // in-memory: a geometry mismatch between channels names the case and channel (checked before the network runs)
    const moved = makeVolume(img.data, img.shape, { spacing: img.spacing, origin: [0, 0, 0], direction: img.direction });
    const r = await predictCases({
      plans: task.plans,
      configuration: '3d_fullres',
      foldFolders: [fold0],
      input: [{ id: 'mem', images: [img, moved] }],
      outputDir: out,
      progress: false,
      throwOnError: false,
    });
    assert.equal(r.cases[0].ok, false);
    assert.match(r.cases[0].error ?? '', /mem/);
  });

  test('cascadeOneHot crops with crop_bbox, transposes, resizes (order 1) and one-hot encodes labels 1..K-1', () => {
    // raw 1x4x4 with a 1x2x2 crop at (0, 1..3, 1..3); transpose (0, 2, 1); no resize (target = cropped shape)
    const raw = new Uint8Array(16);
    raw[1 * 4 + 1] = 1; // (y1, x1)
    raw[1 * 4 + 2] = 2; // (y1, x2)
    raw[0] = 2; // outside the bbox: must be ignored
    const oh = cascadeOneHot(raw, [1, 4, 4], [[0, 1], [1, 3], [1, 3]], [0, 2, 1], [1, 2, 2], 3);
    // transposed (x, y): label 1 at (x0, y0), label 2 at (x1, y0)
    assert.deepEqual(Array.from(oh), [1, 0, 0, 0, 0, 0, 1, 0]);
    // upsampling 2x keeps a one-voxel label as a 2x2 block
    const up = cascadeOneHot(new Uint8Array([1, 0, 0, 0]), [1, 2, 2], [[0, 1], [0, 2], [0, 2]], [0, 1, 2], [1, 4, 4], 2);
    assert.equal(up.reduce((a, b) => a + b, 0), 4);
    assert.equal(up[0], 1);
    assert.equal(up[15], 0);
  });

  test('cascade at test time: 3d_lowres prediction -> one-hot channels -> 3d_cascade_fullres, written in the input geometry', async () => {
    const common = {
      plans: task.plans,
      trainCases: task.train,
      valCases: task.val,
      fold: 0 as const,
      dataset: task.dataset,
      epochs: 1,
      iterationsPerEpoch: 2,
      validationIterations: 1,
      numThreads: 0,
      progress: false,
      validate: false,
      seed: 5,
    };
    const lowDir = trainedFoldFolder(results, 'Task99_Tiny', task.plans.plansName, '3d_lowres', 0);
    await trainFold({ ...common, configuration: '3d_lowres', preprocessedDir: task.preprocessed['3d_lowres'], outputDir: lowDir });
    const next = predNextStageFolder(results, 'Task99_Tiny', task.plans.plansName);
    const net = loadTrainedNetwork(lowDir);
    await predictNextStage({
      net,
      plans: task.plans,
      lowresPreprocessedDir: task.preprocessed['3d_lowres'],
      fullresPreprocessedDir: task.preprocessed['3d_fullres'],
      caseIds: task.caseIds,
      outputDir: next,
      numClasses: 3,
      mirroring: false,
      progress: false,
    });
    net.dispose();
    const casDir = trainedFoldFolder(results, 'Task99_Tiny', task.plans.plansName, '3d_cascade_fullres', 0);
    await trainFold({ ...common, configuration: '3d_cascade_fullres', preprocessedDir: task.preprocessed['3d_fullres'], outputDir: casDir, previousStageDir: next });
    const out = path.join(task.root, 'pred_cascade');
    const r = await predictCases({
      plans: task.plans,
      configuration: '3d_cascade_fullres',
      modelFolder: path.dirname(casDir),
      folds: [0],
      previousStage: { modelFolder: path.dirname(lowDir) },
      input: imagesDir(),
      caseIds: [task.val[0]],
      outputDir: out,
      mirroring: false,
      progress: false,
    });
    assert.equal(r.failed.length, 0);
    const img = await readNifti(path.join(imagesDir(), `${task.val[0]}.nii.gz`));
    const pred = await readNifti(path.join(out, `${task.val[0]}.nii.gz`));
    assert.deepEqual(pred.shape, img.shape);
    assert.deepEqual(pred.direction, img.direction);
    // without the low-res model the cascade refuses to run
    await assert.rejects(
      predictCases({ plans: task.plans, configuration: '3d_cascade_fullres', foldFolders: [casDir], input: imagesDir(), outputDir: out, progress: false }),
      /needs the 3d_lowres model/,
    );
  });
});
