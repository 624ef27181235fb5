/**
 * consolidateFolds and findBestConfigurationInResults on a constructed results tree (2 configurations x 2 folds,
 * 4 cases of 8^3 with a 4^3 foreground cube). Each configuration misses a different part of the cube with a
 * low-confidence background vote, so the configurations' Dice is known by hand and their ensemble is perfect.
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { writeNifti } from '../../sdk/io/nifti';
import { makeVolume, Shape3 } from '../../sdk/io/volume';
import { saveProbabilities } from '../../sdk/inference/export_files';
import { evaluateFolder } from '../../sdk/evaluation/folders';
import { readSummaryJson } from '../../sdk/evaluation/evaluator';
import { ensembleName } from '../../sdk/model_selection/model_selection';
import { configurationFolderName, consolidateFolds, findBestConfigurationInResults } from '../../sdk/model_selection/consolidate';

const SHAPE: Shape3 = [8, 8, 8];
const N = 512;
const CASES = ['c_a', 'c_b', 'c_c', 'c_d'];
const FOLDS: Record<number, string[]> = { 0: ['c_a', 'c_b'], 1: ['c_c', 'c_d'] };
let root: string;
let gtDir: string;
let results: string;

const idx = (z: number, y: number, x: number) => (z * 8 + y) * 8 + x;
function cube(): Uint8Array {
  const s = new Uint8Array(N);
  for (let z = 2; z < 6; z++) for (let y = 2; y < 6; y++) for (let x = 2; x < 6; x++) s[idx(z, y, x)] = 1;
  return s;
}
/** voxels of the cube that a configuration gets wrong in a case */
function errors(config: string, id: string): number[] {
  const out: number[] = [];
  if (config === '2d' && id === 'c_a') for (let y = 2; y < 6; y++) for (let x = 2; x < 4; x++) out.push(idx(2, y, x)); // 8 voxels, slice z=2
  if (config === '3d_fullres') for (let y = 2; y < 6; y++) for (let x = 2; x < 6; x++) out.push(idx(5, y, x)); // 16 voxels, slice z=5
  return out;
}

async function writeConfig(config: string): Promise<void> {
  const base = path.join(results, configurationFolderName(config));
  const props = {
    original_size_of_raw_data: [...SHAPE],
    original_spacing: [1, 1, 1],
    crop_bbox: [
      [0, 8],
      [0, 8],
      [0, 8],
    ],
    size_after_cropping: [...SHAPE],
    spacing_after_resampling: [1, 1, 1],
    itk_origin: [0, 0, 0],
    itk_spacing: [1, 1, 1],
    itk_direction: [1, 0, 0, 0, 1, 0, 0, 0, 1],
  };
  for (const [k, ids] of Object.entries(FOLDS)) {
    const dir = path.join(base, `fold_${k}`, 'validation_raw');
    const gtFold = path.join(root, `gt_${config}_${k}`);
    fs.mkdirSync(dir, { recursive: true });
    fs.mkdirSync(gtFold, { recursive: true });
    for (const id of ids) {
      const seg = cube();
      const probs = new Float32Array(2 * N);
      for (let i = 0; i < N; i++) probs[seg[i] * N + i] = 1;
      for (const i of errors(config, id)) {
        seg[i] = 0;
        probs[i] = 0.6; // background, wrongly but with low confidence
        probs[N + i] = 0.4;
      }
      await writeNifti(path.join(dir, `${id}.nii.gz`), makeVolume(seg, SHAPE), { dtype: 'uint8' });
      await saveProbabilities(path.join(dir, `${id}.npy`), { data: probs, shape: [2, ...SHAPE] }, props as never);
      fs.copyFileSync(path.join(gtDir, `${id}.nii.gz`), path.join(gtFold, `${id}.nii.gz`));
    }
    await evaluateFolder(gtFold, dir, [0, 1]);
  }
}

before(async () => {
  process.env.NNUNET_PROGRESS = '0';
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'nnunet-ts-consolidate-'));
  gtDir = path.join(root, 'labelsTr');
  results = path.join(root, 'results', 'Task98_Cube');
  fs.mkdirSync(gtDir, { recursive: true });
  for (const id of CASES) await writeNifti(path.join(gtDir, `${id}.nii.gz`), makeVolume(cube(), SHAPE), { dtype: 'uint8' });
  await writeConfig('2d');
  await writeConfig('3d_fullres');
});

// Dice = 2TP / (2TP + FP + FN) of the 64-voxel cube with `missed` voxels predicted background
const dice = (missed: number) => (2 * (64 - missed)) / (2 * (64 - missed) + missed);
const SCORE_2D = (dice(8) + 3) / 4;
const SCORE_3D = dice(16);

describe('consolidateFolds', () => {
  test('pools the folds into cv_niftis_raw, evaluates them and determines postprocessing on all folds', async () => {
    const folder = path.join(results, configurationFolderName('2d'));
    const r = await consolidateFolds(folder, gtDir, { folds: [0, 1] });
    assert.deepEqual(fs.readdirSync(r.cvNiftisRaw).filter((f) => f.endsWith('.nii.gz')).sort(), CASES.map((c) => `${c}.nii.gz`));
    assert.ok(Math.abs(r.meanForegroundDice - SCORE_2D) < 1e-12, `${r.meanForegroundDice} vs ${SCORE_2D}`);
    const s = readSummaryJson(path.join(r.cvNiftisRaw, 'summary.json'));
    assert.equal(s.results.all.length, 4);
    assert.ok(fs.existsSync(path.join(folder, 'postprocessing.json')));
    assert.equal(r.postprocessing.num_samples, 4);
    assert.equal(fs.readdirSync(r.cvNiftisPostprocessed).filter((f) => f.endsWith('.nii.gz')).length, 4);
  });

  test('a missing fold or overlapping folds are errors naming the folder', async () => {
    const folder = path.join(results, configurationFolderName('2d'));
    await assert.rejects(consolidateFolds(folder, gtDir, { folds: [0, 1, 2] }), /fold_2.*summary\.json: missing/);
    await assert.rejects(consolidateFolds(folder, gtDir, { folds: [0, 0] }), /also predicted by fold 0/);
  });
});

describe('findBestConfigurationInResults', () => {
  test('scores both configurations, ensembles the pair from the probabilities and picks the (perfect) ensemble', async () => {
    const r = await findBestConfigurationInResults(results, { gtDir, folds: [0, 1], configurations: ['2d', '3d_fullres'] });
    const ens = ensembleName('2d', '3d_fullres');
    const scores = Object.fromEntries(r.selection.scores);
    assert.ok(Math.abs(scores['2d'] - SCORE_2D) < 1e-12);
    assert.ok(Math.abs(scores['3d_fullres'] - SCORE_3D) < 1e-12);
    assert.equal(scores[ens], 1);
    assert.equal(r.best, ens);
    assert.deepEqual(r.selection.members, ['2d', '3d_fullres']);
    const csv = fs.readFileSync(path.join(results, 'summary.csv'), 'utf8').trim().split('\n');
    assert.equal(csv[0], 'model,class1,average');
    assert.equal(csv[3], `${ens},1.0000,1.0000`);
    const instr = JSON.parse(fs.readFileSync(path.join(results, 'inference_instructions.json'), 'utf8'));
    assert.equal(instr.best, ens);
    assert.equal(instr.commands.length, 3);
    assert.match(instr.commands[2], /^nnunet-ts ensemble -i /);
    assert.equal(r.table().numRows(), 3);
  });

  test('without ensembling the better configuration wins (2d misses fewer voxels)', async () => {
    const r = await findBestConfigurationInResults(results, { gtDir, folds: [0, 1], disableEnsembling: true });
    assert.ok(SCORE_2D > SCORE_3D);
    assert.equal(r.best, '2d');
    assert.equal(r.selection.isEnsemble, false);
    // only trained configurations are candidates when none are named
    assert.deepEqual(r.selection.scores.map(([n]) => n), ['2d', '3d_fullres']);
    assert.match(fs.readFileSync(path.join(results, 'inference_instructions.txt'), 'utf8'), /predict .* -c 2d -f 0 1/);
  });
});
