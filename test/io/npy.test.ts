import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as path from 'path';
import { encodeNpy, parseNpy, readNpy } from '../../sdk/io/npy';

const FIX = path.resolve(__dirname, '../../../shared/fixtures/official');

test('npy round trip for every dtype', () => {
  for (const arr of [
    new Uint8Array([1, 2, 255]),
    new Int8Array([-1, 0, 2]),
    new Int16Array([-1024, 0, 3000]),
    new Float32Array([0.5, -1.25, 3]),
    new Float64Array([Math.PI, -0, 1e300]),
  ]) {
    const back = parseNpy(encodeNpy(arr, [3]));
    assert.deepEqual(Array.from(back.data), Array.from(arr));
    assert.deepEqual(back.shape, [3]);
  }
  const enc = encodeNpy(new Float32Array(6), [1, 2, 3]);
  assert.equal((enc[8] + 10 + (enc[9] << 8)) % 64, 0, 'header padded to 64 bytes like numpy');
});

test('reads the official fixtures (float32 and float16)', () => {
  const seg = readNpy(path.join(FIX, 'hippocampus_cases/hippocampus_003_seg.npy'));
  assert.equal(seg.dtype, '<f4');
  assert.equal(seg.shape.length, 4);
  const vals = new Set(Array.from(seg.data));
  for (const v of vals) assert.ok([-1, 0, 1, 2].includes(v));
  const g = readNpy(path.join(FIX, 'synthlung/extras/gaussian_7x8x9_v2.npy'));
  assert.equal(g.dtype, '<f2');
  assert.deepEqual(g.shape, [7, 8, 9]);
  assert.equal(Math.max(...Array.from(g.data)), 10);
});

test('bad npy input names the problem', () => {
  assert.throws(() => parseNpy(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]), 'x.npy'), /x\.npy: not a \.npy file/);
});
