import { test } from 'node:test';
import assert from 'node:assert/strict';
import { figureProblems, overlayFigure, overlayOutcomes, OUTCOME, OUTCOME_COLORS } from '../../sdk/viz';

const shape = [3, 4, 5] as const;
const n = 3 * 4 * 5;
const at = (z: number, y: number, x: number) => (z * 4 + y) * 5 + x;

function volumes() {
  const image = { data: Float32Array.from({ length: n }, (_, i) => i), shape, spacing: [2, 1, 0.5] as const };
  const ref = new Uint8Array(n);
  const pred = new Uint8Array(n);
  // slice z=1: two hits, one miss (fn), one speck (fp), one wrong class
  ref[at(1, 1, 1)] = 1; pred[at(1, 1, 1)] = 1;
  ref[at(1, 1, 2)] = 1; pred[at(1, 1, 2)] = 1;
  ref[at(1, 2, 2)] = 1;
  pred[at(1, 3, 4)] = 1;
  ref[at(1, 0, 0)] = 2; pred[at(1, 0, 0)] = 1;
  // slice z=2: one hit of class 2
  ref[at(2, 2, 3)] = 2; pred[at(2, 2, 3)] = 2;
  return { image, ref: { data: ref, shape }, pred: { data: pred, shape } };
}

test('overlayOutcomes: tp, fp, fn and wrong class per voxel, counts and Dice', () => {
  const { ref, pred } = volumes();
  const { codes, counts } = overlayOutcomes(pred.data, ref.data);
  assert.equal(codes[at(1, 1, 1)], OUTCOME.tp);
  assert.equal(codes[at(1, 2, 2)], OUTCOME.fn);
  assert.equal(codes[at(1, 3, 4)], OUTCOME.fp);
  assert.equal(codes[at(1, 0, 0)], OUTCOME.wrongClass);
  assert.equal(codes[at(0, 0, 0)], OUTCOME.none);
  assert.deepEqual({ ...counts, dice: undefined }, { tp: 3, fp: 1, fn: 1, wrongClass: 1, dice: undefined });
  assert.ok(Math.abs(counts.dice - 6 / (6 + 1 + 1 + 2)) < 1e-12);
  // one class: the binary view of that class (the wrong-class voxel is a fp of class 1)
  const c1 = overlayOutcomes(pred.data, ref.data, [1]).counts;
  assert.deepEqual([c1.tp, c1.fp, c1.fn, c1.wrongClass], [2, 2, 1, 0]);
  assert.ok(Number.isNaN(overlayOutcomes(new Uint8Array(4), new Uint8Array(4)).counts.dice));
});

test('overlayFigure: one panel per plane, the slice with most reference by default, legend with counts, valid spec', () => {
  const { image, ref, pred } = volumes();
  const f = overlayFigure(image, pred, ref, { title: 'toy' });
  assert.deepEqual(figureProblems(f), []);
  const heat = f.data.filter((t) => t.type === 'heatmap');
  assert.equal(heat.length, 2);
  // default slice: z=1 (4 reference voxels); row y=1 holds two hits
  const oc = heat[1].z as number[][];
  assert.equal(oc.length, 4);
  assert.equal(oc[0].length, 5);
  assert.deepEqual(oc[1], [0, 1, 1, 0, 0]);
  assert.equal(oc[3][4], OUTCOME.fp);
  assert.equal((heat[0].z as number[][])[2][3], at(1, 2, 3));
  assert.equal(heat[0].dx, 0.5);
  assert.equal(heat[0].dy, 1);
  const legend = f.data.filter((t) => t.type === 'scatter').map((t) => t.name);
  assert.deepEqual(legend, ['true positive (3 voxels)', 'false positive (1 voxels)', 'false negative (1 voxels)', 'wrong class (1 voxels)']);
  const colours = f.data.filter((t) => t.type === 'scatter').map((t) => (t.marker as { color: string }).color);
  assert.deepEqual(colours, OUTCOME_COLORS.slice(1));
  assert.match(String((f.layout.title as { text: string }).text), /Dice 0\.600/);

  const all = overlayFigure(image, pred, ref, { planes: 'all', slice: { z: 2 } });
  assert.deepEqual(figureProblems(all), []);
  const allHeat = all.data.filter((t) => t.type === 'heatmap');
  assert.equal(allHeat.length, 6);
  assert.deepEqual(allHeat.map((t) => t.xaxis), ['x', 'x', 'x2', 'x2', 'x3', 'x3']);
  assert.equal((allHeat[1].z as number[][])[2][3], OUTCOME.tp); // z=2 as asked
  assert.equal((allHeat[2].z as number[][]).length, 3); // coronal: (z, x)
  assert.equal((allHeat[4].z as number[][])[0].length, 4); // sagittal: (z, y)
  assert.ok(all.layout.xaxis2 && all.layout.yaxis3);
  // without any reference, the slice with most predicted foreground
  const onlyPred = new Uint8Array(n);
  onlyPred[at(2, 0, 0)] = 1;
  const fpOnly = overlayFigure(image, { data: onlyPred, shape }, { data: new Uint8Array(n), shape });
  assert.equal((fpOnly.data[1].z as number[][])[0][0], OUTCOME.fp);
  // deterministic
  assert.equal(JSON.stringify(overlayFigure(image, pred, ref, { planes: 'all' })), JSON.stringify(overlayFigure(image, pred, ref, { planes: 'all' })));
});

test('overlayFigure: shape mismatch and a slice out of range are refused, naming the input', () => {
  const { image, ref, pred } = volumes();
  assert.throws(() => overlayFigure(image, { data: new Uint8Array(60), shape: [3, 5, 4] }, ref), /prediction shape 3x5x4 differs/);
  assert.throws(() => overlayFigure(image, pred, ref, { slice: 3 }), /slice 3 is outside 0..2 along z/);
});
