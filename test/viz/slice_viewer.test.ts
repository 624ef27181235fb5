import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeVolume, Shape3 } from '../../sdk/io/volume';
import { figureProblems, sliceViewer } from '../../sdk/viz';
import { frameIndices, mostForegroundSlice } from '../../sdk/viz/slice_viewer';

// value = 10000*z + 100*y + x, so every shown pixel tells which voxel it came from
function ramp(shape: Shape3): Float32Array {
  const [Z, Y, X] = shape;
  const d = new Float32Array(Z * Y * X);
  for (let z = 0; z < Z; z++) for (let y = 0; y < Y; y++) for (let x = 0; x < X; x++) d[(z * Y + y) * X + x] = 10000 * z + 100 * y + x;
  return d;
}

test('axis z shows (y, x) planes of the right voxels; slider has one step per frame', () => {
  const shape: Shape3 = [5, 7, 9];
  const v = makeVolume(ramp(shape), shape, { spacing: [3, 0.5, 0.25] });
  const f = sliceViewer(v, { axis: 'z', index: 2, title: 't' });
  assert.deepEqual(figureProblems(f), []);
  const img = f.data[0];
  assert.equal(img.type, 'heatmap');
  const z = img.z as number[][];
  assert.equal(z.length, 7);
  assert.equal(z[0].length, 9);
  assert.equal(z[3][4], 20304); // (z=2, y=3, x=4)
  assert.equal(img.dx, 0.25);
  assert.equal(img.dy, 0.5);
  assert.equal(f.frames!.length, 5);
  const steps = (f.layout.sliders as { steps: { args: [string[]] }[]; active: number }[])[0];
  assert.equal(steps.steps.length, 5);
  assert.deepEqual(
    steps.steps.map((s) => s.args[0][0]),
    f.frames!.map((fr) => fr.name),
  );
  assert.equal(steps.active, 2);
  assert.equal((f.frames![4].data[0].z as number[][])[6][8], 40608);
});

test('axes y and x show (z, x) and (z, y) planes', () => {
  const shape: Shape3 = [4, 6, 8];
  const v = { data: ramp(shape), shape };
  const fy = sliceViewer(v, { axis: 'y', index: 5 });
  const zy = fy.data[0].z as number[][];
  assert.equal(zy.length, 4);
  assert.equal(zy[0].length, 8);
  assert.equal(zy[3][7], 30507);
  assert.equal(fy.frames!.length, 6);
  const fx = sliceViewer(v, { axis: 'x', index: 1 });
  const zx = fx.data[0].z as number[][];
  assert.equal(zx.length, 4);
  assert.equal(zx[0].length, 6);
  assert.equal(zx[2][5], 20501);
  assert.equal(fx.frames!.length, 8);
});

test('big slices are subsampled by an integer stride and frames are capped by count and value budget', () => {
  const shape: Shape3 = [100, 300, 200];
  const v = { data: new Float32Array(100 * 300 * 200), shape };
  const f = sliceViewer(v, { index: 37 });
  const z = f.data[0].z as number[][];
  // stride ceil(sqrt(300*200 / (96*96))) = 3 -> 100 x 67
  assert.equal(z.length, 100);
  assert.equal(z[0].length, 67);
  assert.equal(f.data[0].dx, 3);
  assert.equal(f.frames!.length, 64); // maxFrames default; 1e6 / 6700 = 149 would allow more
  assert.ok(f.frames!.some((fr) => fr.name === '37'), 'the initial slice has a frame');
  const g = sliceViewer(v, { index: 37, maxValues: 6700 * 10 });
  assert.equal(g.frames!.length, 10);
  assert.ok(JSON.stringify(f).length < 4e6, 'spec stays a few MB');
});

test('frameIndices: evenly spaced, sorted, unique, keeps the initial index', () => {
  assert.deepEqual(frameIndices(5, 2, 10), [0, 1, 2, 3, 4]);
  const f = frameIndices(101, 33, 11);
  assert.equal(f.length, 11);
  assert.ok(f.includes(33));
  assert.ok(f.includes(0) && f.includes(100));
  assert.deepEqual([...f].sort((a, b) => a - b), f);
});

test('label fill and per-class prediction contours; default index = slice with most label', () => {
  const shape: Shape3 = [6, 4, 4];
  const img = new Float32Array(96).fill(1);
  const lab = new Uint8Array(96);
  const pred = new Uint8Array(96);
  lab[4 * 16 + 5] = 2; // z=4 has 3 label voxels, z=1 one
  lab[4 * 16 + 6] = 1;
  lab[4 * 16 + 9] = 1;
  lab[1 * 16 + 0] = 1;
  pred[4 * 16 + 5] = 2;
  assert.equal(mostForegroundSlice({ data: lab, shape }, 'z'), 4);
  const f = sliceViewer({ data: img, shape }, { label: { data: lab, shape }, prediction: { data: pred, shape }, classNames: ['a', 'b'] });
  assert.deepEqual(figureProblems(f), []);
  assert.equal((f.layout.sliders as { active: number }[])[0].active, 4);
  // image, label fill, a prediction contour for each class present in the prediction (only 2), legend of classes 1, 2
  assert.deepEqual(
    f.data.map((t) => t.type),
    ['heatmap', 'heatmap', 'contour', 'scatter', 'scatter'],
  );
  assert.deepEqual(f.data[1].z, [
    [0, 0, 0, 0],
    [0, 2, 1, 0],
    [0, 1, 0, 0],
    [0, 0, 0, 0],
  ]);
  assert.deepEqual((f.data[2].z as number[][])[1], [0, 1, 0, 0]); // mask of class 2
  assert.deepEqual(
    f.data.slice(3).map((t) => t.name),
    ['a', 'b'],
  );
  assert.deepEqual(f.frames![0].traces, [0, 1, 2]);
  const c = sliceViewer({ data: img, shape }, { label: { data: lab, shape }, labelStyle: 'contour', index: 0 });
  assert.deepEqual(
    c.data.map((t) => t.type),
    ['heatmap', 'contour', 'contour', 'scatter', 'scatter'],
  );
  assert.deepEqual(
    c.data.slice(1, 3).map((t) => t.name),
    ['label 2', 'label 1'],
    'class 1 drawn last, on top',
  );
});

test('many classes (multi-organ maps): contours become one outline heatmap, no legend', () => {
  const shape: Shape3 = [1, 5, 5];
  const lab = new Uint8Array(25);
  for (let y = 1; y <= 3; y++) for (let x = 1; x <= 3; x++) lab[y * 5 + x] = 1; // a 3x3 square of class 1
  for (let x = 0; x < 5; x++) lab[4 * 5 + x] = 10 + x; // 5 one-pixel classes in the last row
  for (let y = 0; y < 4; y++) lab[y * 5 + 4] = 20 + y; // 4 in the last column: 10 classes > MAX_CONTOUR_CLASSES
  const f = sliceViewer({ data: new Float32Array(25), shape }, { prediction: { data: lab, shape } });
  assert.deepEqual(figureProblems(f), []);
  assert.deepEqual(
    f.data.filter((t) => t.type !== 'scatter').map((t) => t.type),
    ['heatmap', 'heatmap'],
  );
  assert.equal(f.data.filter((t) => t.type === 'scatter').length, 10, 'one legend marker per class');
  const z = f.data[1].z as number[][];
  assert.equal(z[2][2], 0, 'the square interior is not an outline');
  assert.deepEqual(z[1].slice(0, 4), [0, 1, 1, 1]);
  assert.deepEqual(z[2].slice(0, 4), [0, 1, 0, 1]);
  assert.equal(z[4][0], 10);
  assert.equal(f.data[1].zmax, 23.5);
  assert.equal(f.layout.showlegend, true, '10 classes still fit the legend');
  const many = new Uint8Array(25).map((_, i) => i + 1);
  const g = sliceViewer({ data: new Float32Array(25), shape }, { label: { data: many, shape } });
  assert.equal(g.layout.showlegend, false, '25 classes: no legend');
  assert.equal(g.data.length, 2);
});

test('bad input names the problem', () => {
  const shape: Shape3 = [2, 2, 2];
  assert.throws(() => sliceViewer({ data: new Float32Array(7), shape }), /volume has 7 voxels but shape 2x2x2 needs 8/);
  assert.throws(
    () => sliceViewer({ data: new Float32Array(8), shape }, { label: { data: new Uint8Array(12), shape: [3, 2, 2] } }),
    /label shape 3x2x2 differs from the image shape 2x2x2/,
  );
  assert.throws(() => sliceViewer({ data: new Float32Array(8), shape }, { index: 2 }), /index 2 is outside 0..1 along z/);
});
