/**
 * The on-disk preprocessed dataset: layout and dtypes (numpy-readable), worker threads, resume after an interruption,
 * invalidation by a changed plan, reopening, and the inspection plot.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { loadDataset } from '../../sdk/io/dataset';
import { readNpy } from '../../sdk/io/npy';
import { preprocessConfiguration, Preprocessed, caseFiles } from '../../sdk/preprocessing/preprocessed_dataset';
import { DATA, HIPPO_CASES, hippocampusPlans } from './fixtures';

const ds = loadDataset(path.join(DATA, 'Task04_Hippocampus'));
const IDS = ['hippocampus_001', 'hippocampus_003', 'hippocampus_004'];

test('preprocessConfiguration writes float32/int8 .npy + JSON per case, resumes, and recomputes when the plan changes', async () => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'nnunet-ts-pp-'));
  try {
    const plans = hippocampusPlans();
    // two worker threads (the pool path, module loaded under ts-node in the workers)
    const p = await preprocessConfiguration(ds, plans, '3d_fullres', { threads: 2, outDir: out, caseIds: IDS, label: null });
    assert.equal(p.dir, path.join(out, 'Task04_Hippocampus', 'nnUNetData_plans_v2.1_stage0'));
    assert.deepEqual(p.results.map((r) => r.skipped), [false, false, false]);
    for (const id of IDS) {
      const f = caseFiles(p.dir, id);
      const d = readNpy(f.data);
      const s = readNpy(f.seg);
      assert.equal(d.dtype, '<f4');
      assert.equal(s.dtype, '|i1');
      const ref = readNpy(path.join(HIPPO_CASES, `${id}_data.npy`));
      const refSeg = readNpy(path.join(HIPPO_CASES, `${id}_seg.npy`));
      assert.deepEqual(d.shape, ref.shape);
      assert.deepEqual(s.shape, refSeg.shape);
      let md = 0;
      for (let i = 0; i < ref.data.length; i++) md = Math.max(md, Math.abs(ref.data[i] - d.data[i]));
      assert.ok(md <= 1e-5);
      assert.deepEqual(Array.from(s.data), Array.from(refSeg.data));
      const c = p.case(id);
      assert.equal(c.properties.case_identifier, id);
      assert.equal(c.properties.preprocessing_hash, p.hash);
      assert.ok(c.properties.class_locations['1'].length > 0);
    }
    // resume: a finished run is reused; a case whose JSON is missing (interrupted) is redone alone
    fs.rmSync(caseFiles(p.dir, IDS[1]).props);
    const again = await preprocessConfiguration(ds, plans, '3d_fullres', { threads: 1, outDir: out, caseIds: IDS, label: null });
    assert.deepEqual(again.results.map((r) => r.skipped), [true, false, true]);
    // a changed plan (use_mask_for_norm) changes the hash and recomputes every case
    const changed = structuredClone(plans);
    changed.configurations['3d_fullres'].use_mask_for_norm = [true];
    const p2 = await preprocessConfiguration(ds, changed, '3d_fullres', { threads: 1, outDir: out, caseIds: IDS, label: null });
    assert.notEqual(p2.hash, p.hash);
    assert.deepEqual(p2.results.map((r) => r.skipped), [false, false, false]);
    // with the mask, voxels outside the nonzero mask (seg -1) are exactly 0
    const c3 = p2.case('hippocampus_003');
    let outside = 0;
    for (let i = 0; i < c3.seg.length; i++) if (c3.seg[i] < 0) {
      outside++;
      assert.equal(c3.data[i], 0);
    }
    assert.equal(outside, 3); // fixtures README: hippocampus_003 has 3 such voxels
    // reopen from disk
    const reopened = Preprocessed.open(p2.dir);
    assert.deepEqual(reopened.caseIds, IDS);
    assert.equal(reopened.hash, p2.hash);
    // (that numpy reads these files is checked by the reference suite, test/reference/python_io.test.ts)
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
});

test('plot returns raw and preprocessed slices side by side with the label overlay', async () => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'nnunet-ts-pp-'));
  try {
    const p = await preprocessConfiguration(ds, hippocampusPlans(), '3d_fullres', { threads: 1, outDir: out, caseIds: ['hippocampus_003'], label: null });
    const fig = await p.plot('hippocampus_003');
    assert.equal(fig.data.length, 4);
    assert.deepEqual(fig.data.map((t) => t.xaxis), ['x', 'x', 'x2', 'x2']);
    const pre = fig.data[2].z as number[][];
    assert.equal(pre.length, 52);
    assert.equal(pre[0].length, 34);
    const raw = fig.data[0].z as number[][];
    assert.equal(raw.length, 52);
    // the preprocessed label overlay shows foreground on the chosen slice
    assert.ok((fig.data[3].z as (number | null)[][]).some((r) => r.some((v) => v !== null && v > 0)));
    await assert.rejects(() => p.plot('hippocampus_003', { slice: 99 }), /out of range/);
    assert.throws(() => p.case('nope'), /no preprocessed case 'nope'/);
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
});
