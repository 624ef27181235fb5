import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { readNifti, writeNifti } from '../../sdk/io/nifti';
import { makeVolume } from '../../sdk/io/volume';
import { evaluateFolder } from '../../sdk/evaluation/folders';
import { determinePostprocessingFolder } from '../../sdk/postprocessing/folders';
import { readPostprocessingJson } from '../../sdk/postprocessing/determine';
import { readSummaryJson } from '../../sdk/evaluation/evaluator';

const SHAPE: [number, number, number] = [4, 6, 10];
const idx = (z: number, y: number, x: number) => (z * SHAPE[1] + y) * SHAPE[2] + x;
function box(a: Uint8Array, v: number, z0: number, z1: number, y0: number, y1: number, x0: number, x1: number): Uint8Array {
  for (let z = z0; z < z1; z++) for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) a[idx(z, y, x)] = v;
  return a;
}
const geom = { spacing: [2.5, 0.8, 0.8] as [number, number, number], origin: [10, -5, 3] as [number, number, number] };

test('evaluate_folder and determine_postprocessing on NIfTI folders (v1 file layout)', async () => {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'nnunet-pp-'));
  try {
    const gtDir = path.join(base, 'gt_niftis');
    const rawDir = path.join(base, 'validation_raw');
    const n = SHAPE[0] * SHAPE[1] * SHAPE[2];
    // case a: prediction has a spurious blob; case b: perfect
    const gtA = box(new Uint8Array(n), 1, 0, 2, 0, 2, 0, 2);
    const predA = box(gtA.slice(), 1, 3, 4, 5, 6, 8, 10);
    const gtB = box(new Uint8Array(n), 1, 1, 3, 2, 5, 3, 7);
    for (const [name, gt, pred] of [
      ['case_a.nii.gz', gtA, predA],
      ['case_b.nii.gz', gtB, gtB],
    ] as [string, Uint8Array, Uint8Array][]) {
      await writeNifti(path.join(gtDir, name), makeVolume(gt, SHAPE, geom));
      await writeNifti(path.join(rawDir, name), makeVolume(pred, SHAPE, geom));
    }
    const res = await evaluateFolder(gtDir, rawDir, [0, 1]);
    assert.ok(Math.abs(res.mean['1'].Dice - (16 / 18 + 1) / 2) < 1e-12);
    const summary = readSummaryJson(path.join(rawDir, 'summary.json'));
    assert.equal(summary.results.all.length, 2);
    assert.equal(summary.results.all[0].test, path.join(rawDir, 'case_a.nii.gz'));

    const r = await determinePostprocessingFolder(base, gtDir, { rawSubfolder: 'validation_raw', finalSubfolder: 'validation_final' });
    assert.deepEqual(r.postprocessing.for_which_classes, [[1]]);
    const pp = readPostprocessingJson(path.join(base, 'postprocessing.json'));
    assert.deepEqual(pp.for_which_classes, [[1]]);
    assert.equal(pp.validation_raw, 'validation_raw');
    assert.equal(pp.num_samples, 2);
    const fin = await readNifti(path.join(base, 'validation_final', 'case_a.nii.gz'));
    assert.deepEqual(Array.from(fin.data), Array.from(gtA));
    assert.deepEqual(fin.spacing, geom.spacing.map((v) => Math.fround(v)));
    assert.deepEqual(fin.origin, geom.origin);
    const finSummary = readSummaryJson(path.join(base, 'validation_final', 'summary.json'));
    assert.equal(finSummary.results.mean['1'].Dice, 1);

    // a missing prediction is reported with its name
    fs.rmSync(path.join(rawDir, 'case_b.nii.gz'));
    await assert.rejects(evaluateFolder(gtDir, rawDir, [0, 1]), /predictions missing for case_b\.nii\.gz/);
  } finally {
    fs.rmSync(base, { recursive: true, force: true });
  }
});
