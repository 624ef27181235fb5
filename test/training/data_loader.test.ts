import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { writeJsonAtomicSync } from '../../sdk/io/atomic';
import { readNpy, writeNpySync } from '../../sdk/io/npy';
import { RandomState } from '../../sdk/util/random';
import {
  DataLoader2D,
  DataLoader3D,
  InMemoryCaseProvider,
  NpyFolderCaseProvider,
  PreprocessedCase,
  forcedForegroundIndices,
} from '../../sdk/training/data_loader';
import { codedCase, decode, withinBinomial } from './helpers';

const FIX = path.resolve(__dirname, '../../../shared/fixtures/official');

test('forced-foreground sample indices match reference A.5 (half-even rounding)', () => {
  const exp: Record<number, number[]> = { 2: [1], 3: [2], 4: [3], 5: [3, 4], 7: [5, 6], 12: [8, 9, 10, 11] };
  for (const [bs, idx] of Object.entries(exp)) assert.deepEqual(forcedForegroundIndices(Number(bs), 0.33), idx, `bs ${bs}`);
  assert.deepEqual(forcedForegroundIndices(50, 0.33), Array.from({ length: 16 }, (_, i) => 34 + i));
  assert.deepEqual(forcedForegroundIndices(4, 0), []);
});

test('3D loader: random crops cover exactly [lb, ub] per axis, padding is 0 (data) and -1 (seg)', async () => {
  // case 6×7×8, loader patch 6×6×6, final patch 4×4×4 → need_to_pad 2: lb = −1, ub = shape + 1 − 6
  const prov = new InMemoryCaseProvider({ a: codedCase(6, 7, 8) });
  const dl = new DataLoader3D(prov, { patchSize: [6, 6, 6], finalPatchSize: [4, 4, 4], batchSize: 1, oversampleForegroundPercent: 0 }, new RandomState(1));
  const seen = [new Set<number>(), new Set<number>(), new Set<number>()];
  for (let it = 0; it < 300; it++) {
    const b = await dl.generateTrainBatch();
    assert.deepEqual(b.dataShape, [1, 1, 6, 6, 6]);
    // lower corner = decoded position of the first in-case voxel minus its index
    let found = false;
    for (let i = 0; i < 216 && !found; i++) {
      const p = decode(b.data[i]);
      if (!p) {
        assert.equal(b.seg[i], -1, 'padded seg must be -1');
        continue;
      }
      const idx = [Math.floor(i / 36), Math.floor(i / 6) % 6, i % 6];
      for (let d = 0; d < 3; d++) seen[d].add(p[d] - idx[d]);
      found = true;
    }
    for (let i = 0; i < 216; i++) if (b.data[i] === 0) assert.equal(b.seg[i], -1);
  }
  assert.deepEqual([...seen[0]].sort((a, b) => a - b), [-1, 0, 1]);
  assert.deepEqual([...seen[1]].sort((a, b) => a - b), [-1, 0, 1, 2]);
  assert.deepEqual([...seen[2]].sort((a, b) => a - b), [-1, 0, 1, 2, 3]);
});

test('3D loader: cases are drawn uniformly with replacement; forced samples contain foreground; seeded', async () => {
  const cases: Record<string, PreprocessedCase> = {};
  for (let k = 0; k < 4; k++) cases[`c${k}`] = codedCase(12, 12, 12, [[2 + k, 9, 10]]);
  const prov = new InMemoryCaseProvider(cases);
  const opts = { patchSize: [5, 5, 5], finalPatchSize: [5, 5, 5], batchSize: 3, oversampleForegroundPercent: 0.33 };
  const dl = new DataLoader3D(prov, opts, new RandomState(7));
  const counts: Record<string, number> = {};
  let dup = 0;
  const n = 400;
  for (let it = 0; it < n; it++) {
    const b = await dl.generateTrainBatch();
    for (const k of b.keys) counts[k] = (counts[k] ?? 0) + 1;
    if (new Set(b.keys).size < b.keys.length) dup++;
    // sample 2 of 3 is forced (A.5): its crop contains the foreground voxel
    const nv = 125;
    const seg2 = b.seg.subarray(2 * nv, 3 * nv);
    assert.ok(seg2.some((v) => v === 1), 'forced sample without foreground');
  }
  for (const k of Object.keys(cases)) assert.ok(withinBinomial(counts[k], 3 * n, 0.25), `case ${k} drawn ${counts[k]}`);
  assert.ok(dup > 0, 'with replacement: duplicates must occur');
  const a = await new DataLoader3D(prov, opts, new RandomState(3)).generateTrainBatch();
  const b = await new DataLoader3D(prov, opts, new RandomState(3)).generateTrainBatch();
  assert.deepEqual(a.keys, b.keys);
  assert.deepEqual(Array.from(a.data), Array.from(b.data));
});

test('3D loader: forced crop is max(lb, voxel − patch//2) with no upper clamp (quirk B.4)', async () => {
  const prov = new InMemoryCaseProvider({ a: codedCase(8, 8, 8, [[7, 7, 7]]) });
  const dl = new DataLoader3D(prov, { patchSize: [4, 4, 4], finalPatchSize: [4, 4, 4], batchSize: 1, oversampleForegroundPercent: 1 }, new RandomState(0));
  const b = await dl.generateTrainBatch();
  // lower corner 7 − 2 = 5 → voxels 5..8; index 3 lies outside the case and is padded
  assert.deepEqual(decode(b.data[0]), [5, 5, 5]);
  assert.equal(b.data[(3 * 4 + 3) * 4 + 3], 0);
  assert.equal(b.seg[(3 * 4 + 3) * 4 + 3], -1);
  assert.equal(b.seg[(2 * 4 + 2) * 4 + 2], 1); // the foreground voxel sits at patch index 2
});

test('3D loader on official hippocampus_001 (smaller than the enlarged patch): padding and foreground', async () => {
  const d = readNpy(path.join(FIX, 'hippocampus_cases/hippocampus_001_data.npy'));
  const s = readNpy(path.join(FIX, 'hippocampus_cases/hippocampus_001_seg.npy'));
  const [C, Z, Y, X] = d.shape;
  // v1 stores every foreground voxel for this case (class_locations_count equals the voxel counts)
  const cl: Record<string, number[][]> = { '1': [], '2': [] };
  const seg = Float32Array.from(s.data as ArrayLike<number>);
  for (let i = 0; i < seg.length; i++) if (seg[i] > 0) cl[String(seg[i])].push([Math.floor(i / (Y * X)), Math.floor(i / X) % Y, i % X]);
  const props = JSON.parse(fs.readFileSync(path.join(FIX, 'hippocampus_cases/hippocampus_001_properties.json'), 'utf8'));
  assert.equal(cl['1'].length, props.class_locations_count['1']);
  const c: PreprocessedCase = { data: Float32Array.from(d.data as ArrayLike<number>), seg, shape: [C, Z, Y, X], classLocations: cl };
  const dl = new DataLoader3D(new InMemoryCaseProvider({ h1: c }), { patchSize: [60, 76, 60], finalPatchSize: [40, 56, 40], batchSize: 7 }, new RandomState(12345));
  const b = await dl.generateTrainBatch();
  const nv = 60 * 76 * 60;
  for (const j of [5, 6]) assert.ok(b.seg.subarray(j * nv, (j + 1) * nv).some((v) => v > 0), `forced sample ${j}`);
  // the case (35×51×35) is smaller than the loader patch: every sample has padding with data 0 / seg −1
  for (let j = 0; j < 7; j++) {
    const sj = b.seg.subarray(j * nv, (j + 1) * nv);
    const dj = b.data.subarray(j * nv, (j + 1) * nv);
    let pad = 0;
    for (let i = 0; i < nv; i++) if (sj[i] === -1 && dj[i] === 0) pad++;
    assert.ok(pad >= nv - Z * Y * X, `sample ${j}: ${pad} padded voxels`);
  }
});

test('need_to_pad is copied per case (last v1 commit); the older aliasing is available as persistentNeedToPad', async () => {
  // patch 6 = final 6: need_to_pad 0; a 4-voxel case raises it to 2 (pad both sides); the big case then keeps it
  const small = codedCase(4, 4, 4);
  const big = codedCase(10, 10, 10);
  for (const persistent of [true, false]) {
    const dl = new DataLoader3D(new InMemoryCaseProvider({ small }), { patchSize: [6, 6, 6], finalPatchSize: [6, 6, 6], batchSize: 1, persistentNeedToPad: persistent }, new RandomState(0));
    await dl.generateTrainBatch();
    (dl as any).provider = new InMemoryCaseProvider({ big });
    const lows = new Set<number>();
    for (let it = 0; it < 200; it++) {
      const b = await dl.generateTrainBatch();
      // a lower corner of −1 (lb = −2 // 2) is only possible with the enlarged need_to_pad
      if (b.data[0] === 0) lows.add(-1);
      else lows.add(decode(b.data[0])![0]);
    }
    assert.equal(lows.has(-1), persistent, `persistent=${persistent}`);
  }
});

test('2D loader: slices along axis 0; forced crops centre on the chosen voxel (y, x) of its slice', async () => {
  const prov = new InMemoryCaseProvider({ a: codedCase(10, 30, 30, [[9, 20, 3]]) });
  const dl = new DataLoader2D(prov, { patchSize: [6, 6], finalPatchSize: [6, 6], batchSize: 2, oversampleForegroundPercent: 0.5 }, new RandomState(5));
  const zs = new Set<number>();
  for (let it = 0; it < 200; it++) {
    const b = await dl.generateTrainBatch();
    assert.deepEqual(b.dataShape, [2, 1, 6, 6]);
    const p0 = decode(b.data[0]);
    if (p0) zs.add(p0[0]);
    // forced sample 1: slice 9, lower corner (20 − 3, 3 − 3) from the voxel's (y, x) = (20, 3)
    assert.deepEqual(decode(b.data[36]), [9, 17, 0]);
  }
  assert.equal(zs.size, 10, 'random slices cover all of axis 0');
});

test('NpyFolderCaseProvider reads the v1 stacked layout and names missing files', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nnunet-ts-loader-'));
  try {
    const all = new Float32Array(2 * 2 * 3 * 4);
    for (let i = 0; i < 24; i++) all[i] = i;
    all[24 + 5] = 1;
    writeNpySync(path.join(dir, 'case_0.npy'), all, [2, 2, 3, 4]);
    writeJsonAtomicSync(path.join(dir, 'case_0.json'), { class_locations: { '1': [[0, 1, 1]] } });
    const p = new NpyFolderCaseProvider(dir);
    assert.deepEqual(p.caseIds, ['case_0']);
    const c = p.load('case_0');
    assert.deepEqual(c.shape, [1, 2, 3, 4]);
    assert.equal(c.seg[5], 1);
    assert.equal(c.data[23], 23);
    assert.throws(() => new NpyFolderCaseProvider(dir, ['nope']).load('nope'), /nope/);
    // sdk/preprocessing layout: image channels in <id>.npy, int8 seg in <id>_seg.npy
    writeNpySync(path.join(dir, 'case_1.npy'), all.subarray(0, 24), [1, 2, 3, 4]);
    const seg = new Int8Array(24);
    seg[7] = 2;
    writeNpySync(path.join(dir, 'case_1_seg.npy'), seg, [1, 2, 3, 4]);
    writeJsonAtomicSync(path.join(dir, 'case_1.json'), { class_locations: { '2': [[0, 1, 3]] } });
    const p2 = new NpyFolderCaseProvider(dir);
    assert.deepEqual(p2.caseIds, ['case_0', 'case_1']);
    const c1 = p2.load('case_1');
    assert.deepEqual(c1.shape, [1, 2, 3, 4]);
    assert.equal(c1.seg[7], 2);
    assert.equal(c1.data[23], 23);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
