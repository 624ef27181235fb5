import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { makeVolume, type Shape3 } from '../../sdk/io/volume';
import { binaryFillHoles, cropCase, cropToNonzero, getBboxFromMask } from '../../sdk/cropping/cropping';

/** Build a Z*Y*X array from a predicate. */
function grid(shape: Shape3, f: (z: number, y: number, x: number) => number): Float32Array {
  const [Z, Y, X] = shape;
  const a = new Float32Array(Z * Y * X);
  let i = 0;
  for (let z = 0; z < Z; z++) for (let y = 0; y < Y; y++) for (let x = 0; x < X; x++) a[i++] = f(z, y, x);
  return a;
}

test('binaryFillHoles fills enclosed cavities only (face connectivity, like scipy)', () => {
  const shape: Shape3 = [5, 5, 5];
  // hollow cube shell 1..3 with cavity at (2,2,2)
  const shell = grid(shape, (z, y, x) => (Math.max(Math.abs(z - 2), Math.abs(y - 2), Math.abs(x - 2)) === 1 ? 1 : 0));
  const filled = binaryFillHoles(Uint8Array.from(shell), shape);
  assert.equal(filled[2 * 25 + 2 * 5 + 2], 1, 'the enclosed centre is filled');
  assert.equal(filled[0], 0, 'the outside stays background');
  // open the shell at one face voxel: the cavity now touches the outside through a face neighbour -> not filled
  const open = Uint8Array.from(shell);
  open[1 * 25 + 2 * 5 + 2] = 0;
  assert.equal(binaryFillHoles(open, shape)[2 * 25 + 2 * 5 + 2], 0);
  // a diagonal-only gap does not connect (face connectivity): cavity stays enclosed
  const diag = new Uint8Array(27).fill(1);
  diag[13] = 0; // centre of 3x3x3
  assert.equal(binaryFillHoles(diag, [3, 3, 3])[13], 1);
  // background touching the border is never filled
  const border = new Uint8Array(27).fill(1);
  border[0] = 0;
  assert.equal(binaryFillHoles(border, [3, 3, 3])[0], 0);
});

test('cropToNonzero: OR over channels, half-open bbox, -1 outside the mask where the label is 0', () => {
  const shape: Shape3 = [4, 6, 7];
  const a = grid(shape, (z, y, x) => (z >= 1 && z <= 2 && y >= 2 && y <= 3 && x === 1 ? 5 : 0));
  const b = grid(shape, (z, y, x) => (z === 2 && y === 4 && x === 5 ? -3 : 0));
  const seg = grid(shape, (z, y, x) => (z === 2 && y === 4 && x === 5 ? 2 : 0));
  const r = cropToNonzero([a, b], shape, seg);
  assert.deepEqual(r.bbox, [[1, 3], [2, 5], [1, 6]]);
  assert.deepEqual(r.shape, [2, 3, 5]);
  assert.equal(r.data.length, 2);
  assert.equal(r.data[0][0], 5); // (1,2,1) -> (0,0,0)
  // the labelled voxel keeps 2; a zero image voxel inside the box but outside the mask gets -1
  assert.equal(r.seg[1 * 15 + 2 * 5 + 4], 2);
  assert.equal(r.seg[0 * 15 + 0 * 5 + 1], -1);
  assert.equal(r.seg[0], 0);
  // no label: 0 inside, -1 outside
  const r2 = cropToNonzero([a, b], shape, null);
  assert.equal(r2.seg[0], 0);
  assert.equal(r2.seg[1], -1);
  assert.throws(() => getBboxFromMask(new Uint8Array(8), [2, 2, 2]), /mask is empty/);
});

test('cropCase: float32 cast, classes before resetting labels < -1, v1 property names', () => {
  const shape: Shape3 = [3, 3, 3];
  const img = makeVolume(Int16Array.from(grid(shape, (z) => (z === 0 ? 0 : 100))), shape, { spacing: [2.5, 0.7, 0.8] });
  const lab = makeVolume(Uint8Array.from(grid(shape, (z, y, x) => (z === 2 && y === 1 && x === 1 ? 1 : 0))), shape);
  const c = cropCase([img], lab, 'toy');
  assert.ok(c.data[0] instanceof Float32Array && c.seg instanceof Float32Array);
  assert.deepEqual(c.properties.crop_bbox, [[1, 3], [0, 3], [0, 3]]);
  assert.deepEqual(c.properties.size_after_cropping, [2, 3, 3]);
  assert.deepEqual(c.properties.original_size_of_raw_data, [3, 3, 3]);
  assert.deepEqual(c.properties.itk_spacing, [0.8, 0.7, 2.5]);
  assert.deepEqual(c.properties.classes, [0, 1]);
  const bad = makeVolume(new Uint8Array(8), [2, 2, 2]);
  assert.throws(() => cropCase([img], bad, 'toy'), /toy: label shape 2x2x2 differs from image shape 3x3x3/);
});
