import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { applyPostprocessing, classKey, formatMinValidObjectSizes, labelComponents, parseMinValidObjectSizes, removeAllButLargestComponent } from '../../sdk/postprocessing/connected_components';
import { determinePostprocessing, inMemoryCase } from '../../sdk/postprocessing/determine';

const SHAPE = [4, 6, 10];
const idx = (z: number, y: number, x: number) => (z * SHAPE[1] + y) * SHAPE[2] + x;

/** Fill the box [z0,z1) x [y0,y1) x [x0,x1) with `v`. */
function box(a: Uint8Array, v: number, z0: number, z1: number, y0: number, y1: number, x0: number, x1: number): Uint8Array {
  for (let z = z0; z < z1; z++) for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) a[idx(z, y, x)] = v;
  return a;
}
const vol = () => new Uint8Array(SHAPE[0] * SHAPE[1] * SHAPE[2]);

test('labelComponents: face connectivity (scipy default structure), numbering in C order', () => {
  // diagonal neighbours are separate components with the default structure
  const m = new Uint8Array(8);
  m[0] = 1; // (0,0,0)
  m[3] = 1; // (0,1,1): edge-diagonal to (0,0,0)
  m[7] = 1; // (1,1,1): corner-diagonal to (0,0,0), face neighbour of (0,1,1)
  const r = labelComponents(m, [2, 2, 2]);
  assert.equal(r.count, 2);
  assert.deepEqual(Array.from(r.labels), [1, 0, 0, 2, 0, 0, 0, 2]);
  assert.deepEqual(r.sizes.slice(1), [1, 2]);
  // 2D: 4-connectivity
  const r2 = labelComponents([1, 0, 0, 1], [2, 2]);
  assert.equal(r2.count, 2);
});

test('removeAllButLargestComponent: keeps the largest, keeps ties, joint regions, size limits', () => {
  const seg = vol();
  box(seg, 1, 0, 2, 0, 2, 0, 2); // 8 voxels
  box(seg, 1, 0, 2, 0, 2, 5, 7); // 8 voxels (tie)
  box(seg, 1, 3, 4, 5, 6, 9, 10); // 1 voxel
  const out = seg.slice();
  const r = removeAllButLargestComponent(out, SHAPE, [1], 2.0);
  assert.equal(out[idx(3, 5, 9)], 0);
  assert.equal(out[idx(0, 0, 0)], 1);
  assert.equal(out[idx(0, 0, 5)], 1, 'tied largest components are both kept');
  assert.deepEqual(r.keptSize, { '1': 16 });
  assert.deepEqual(r.largestRemoved, { '1': 2 });
  // a region of two classes is one object; class 2 touching class 1 survives the joint step
  const s2 = vol();
  box(s2, 1, 0, 2, 0, 2, 0, 2);
  box(s2, 2, 0, 2, 0, 2, 2, 3); // touches class 1
  box(s2, 2, 3, 4, 5, 6, 8, 10); // far away
  const joint = s2.slice();
  removeAllButLargestComponent(joint, SHAPE, [[1, 2]]);
  assert.equal(joint[idx(0, 0, 2)], 2);
  assert.equal(joint[idx(3, 5, 8)], 0);
  // min_valid_object_size: objects at least that large survive
  const lim = s2.slice();
  removeAllButLargestComponent(lim, SHAPE, [2], 1, { '2': 2 });
  assert.equal(lim[idx(3, 5, 8)], 2);
  assert.throws(() => removeAllButLargestComponent(s2.slice(), SHAPE, [0]), /background/);
  assert.equal(classKey([1, 2]), '(1, 2)');
  assert.equal(classKey([3]), '(3,)');
  const sizes = parseMinValidObjectSizes('{(1, 2): 120.0, 1: 35.5, 2: 1e-05}');
  assert.deepEqual(sizes, { '(1, 2)': 120, '1': 35.5, '2': 1e-5 });
  assert.equal(parseMinValidObjectSizes('None'), null);
  assert.equal(formatMinValidObjectSizes({ '(1, 2)': 120, '1': 35.5 }), '{(1, 2): 120.0, 1: 35.5}');
});

test('postprocessing decision: one class, spurious blob -> chosen; true second lesion -> not chosen', async () => {
  // gt: one 8-voxel blob. pred: the blob plus a 2-voxel false positive elsewhere.
  const gt = box(vol(), 1, 0, 2, 0, 2, 0, 2);
  const pred = box(box(vol(), 1, 0, 2, 0, 2, 0, 2), 1, 3, 4, 5, 6, 8, 10);
  const gt2 = box(box(vol(), 1, 0, 2, 0, 2, 0, 2), 1, 3, 4, 5, 6, 8, 10); // second lesion is real here
  const cases = [inMemoryCase('a', pred, gt, SHAPE), inMemoryCase('b', gt.slice(), gt, SHAPE)];
  const finals: string[] = [];
  const r = await determinePostprocessing(cases, {
    classes: [1],
    onFinal: (name, seg) => {
      finals.push(name);
      assert.equal(seg[idx(3, 5, 8)], 0);
    },
  });
  assert.deepEqual(r.postprocessing.for_which_classes, [[1]]);
  // case a: raw Dice 16/18, postprocessed 1; case b: 1 -> mean raw 17/18, pp 1
  assert.ok(Math.abs(r.postprocessing.dc_per_class_raw['1'] - (16 / 18 + 1) / 2) < 1e-12);
  assert.equal(r.postprocessing.dc_per_class_pp_all['1'], 1);
  assert.deepEqual(r.postprocessing.dc_per_class_pp_per_class, {}); // single class: no per-class step
  assert.equal(r.postprocessing.min_valid_object_sizes, 'None');
  assert.equal(r.postprocessing.num_samples, 2);
  assert.equal(r.final.mean['1'].Dice, 1);
  assert.deepEqual(finals, ['a', 'b']);

  const r2 = await determinePostprocessing([inMemoryCase('a', pred, gt2, SHAPE), inMemoryCase('b', gt.slice(), gt, SHAPE)], {
    classes: [1],
  });
  assert.deepEqual(r2.postprocessing.for_which_classes, []);
  assert.ok(r2.postprocessing.dc_per_class_pp_all['1'] < r2.postprocessing.dc_per_class_raw['1']);
  assert.equal(r2.final.mean['1'].Dice, r2.raw.mean['1'].Dice);

  // equal Dice (no spurious objects anywhere) is not an improvement
  const r3 = await determinePostprocessing([inMemoryCase('b', gt.slice(), gt, SHAPE)], { classes: [1] });
  assert.deepEqual(r3.postprocessing.for_which_classes, []);
});

test('postprocessing decision with two classes: joint step rejected, per-class step accepted for class 1', async () => {
  // class 1 and class 2 are separate true objects; class 1 has a spurious extra blob in the prediction.
  const gt = vol();
  box(gt, 1, 0, 2, 0, 3, 0, 3); // 18 voxels
  box(gt, 2, 0, 2, 0, 2, 6, 8); // 8 voxels, not touching class 1
  const pred = gt.slice();
  box(pred, 1, 3, 4, 5, 6, 0, 2); // spurious class-1 blob (2 voxels)
  const r = await determinePostprocessing([inMemoryCase('a', pred, gt, SHAPE)], { classes: [1, 2] });
  // joint step would delete class 2 (smaller region) -> class 2 gets worse -> rejected
  assert.equal(r.postprocessing.dc_per_class_pp_all['2'], 0);
  assert.deepEqual(r.postprocessing.for_which_classes, [1]);
  assert.equal(r.postprocessing.dc_per_class_pp_per_class['1'], 1);
  assert.equal(r.final.mean['1'].Dice, 1);
  assert.equal(r.final.mean['2'].Dice, 1);
});

test('postprocessing decision with two classes: joint step accepted, per-class step adds nothing', async () => {
  const gt = vol();
  box(gt, 1, 0, 2, 0, 3, 0, 3);
  box(gt, 2, 0, 2, 0, 3, 3, 4); // touches class 1: one foreground region
  const pred = gt.slice();
  box(pred, 2, 3, 4, 5, 6, 8, 10); // spurious class-2 blob far away
  const r = await determinePostprocessing([inMemoryCase('a', pred, gt, SHAPE)], { classes: [1, 2] });
  assert.deepEqual(r.postprocessing.for_which_classes, [[1, 2]]);
  assert.equal(r.postprocessing.dc_per_class_pp_all['1'], 1);
  assert.equal(r.postprocessing.dc_per_class_pp_all['2'], 1);
  assert.equal(r.postprocessing.dc_per_class_pp_per_class['2'], 1); // evaluated from the joint step's output
  const applied = applyPostprocessing(pred, SHAPE, r.postprocessing);
  assert.deepEqual(applied, gt);
  assert.notEqual(applied, pred, 'applyPostprocessing returns a copy');
  // advanced mode records the smallest kept object size (in mm^3) and never removes objects at least that large
  const adv = await determinePostprocessing([inMemoryCase('a', pred, gt, SHAPE, [2, 1, 1])], {
    classes: [1, 2],
    advancedPostprocessing: true,
  });
  assert.deepEqual(adv.postprocessing.for_which_classes, [[1, 2]]);
  assert.equal(adv.postprocessing.min_valid_object_sizes, '{(1, 2): 48.0}'); // 24 voxels x 2 mm^3
});
