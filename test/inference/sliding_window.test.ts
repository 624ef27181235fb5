import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { readNpy } from '../../sdk/io/npy';
import { getGaussian, getGaussianV2, roundToFloat16 } from '../../sdk/inference/gaussian';
import {
  computeSlidingWindowSteps,
  mirrorCombinations,
  predictEnsemble,
  predictSlidingWindow,
  PatchPredictor,
} from '../../sdk/inference/sliding_window';

const EXTRAS = path.resolve(__dirname, '../../../shared/fixtures/official/synthlung/extras');

test('sliding-window steps equal official v1 on all fixture cases', () => {
  const fx = JSON.parse(fs.readFileSync(path.join(EXTRAS, 'steps_v1.json'), 'utf8')) as {
    cases: { patch_size: number[]; image_size: number[]; step_size: number; steps: number[][] }[];
  };
  assert.equal(fx.cases.length, 36);
  for (const c of fx.cases) {
    assert.deepEqual(computeSlidingWindowSteps(c.patch_size, c.image_size, c.step_size), c.steps, JSON.stringify(c));
  }
  // nnunet-reference.md A.4 (official __main__ example and the code comment example)
  assert.deepEqual(computeSlidingWindowSteps([30, 224, 224], [162, 529, 529], 0.5), [
    [0, 15, 29, 44, 59, 73, 88, 103, 117, 132],
    [0, 102, 203, 305],
    [0, 102, 203, 305],
  ]);
  assert.deepEqual(computeSlidingWindowSteps([64], [110], 0.5), [[0, 23, 46]]);
  assert.throws(() => computeSlidingWindowSteps([64], [60], 0.5), /pad first/);
  assert.throws(() => computeSlidingWindowSteps([64], [100], 1.5), /step_size/);
});

function relClose(got: Float32Array, want: Float32Array, rel: number, what: string): void {
  assert.equal(got.length, want.length, `${what}: length`);
  let worst = 0;
  for (let i = 0; i < got.length; i++) {
    const r = Math.abs(got[i] - want[i]) / Math.abs(want[i]);
    if (r > worst) worst = r;
  }
  assert.ok(worst <= rel, `${what}: max relative difference ${worst} > ${rel}`);
}

const GAUSS_PATCHES = ['7x8x9', '33x47x21', '32x48x64', '41x64', '160x160'];

test('Gaussian importance map equals official v1 (float32, rel 1e-6)', () => {
  for (const p of GAUSS_PATCHES) {
    const patch = p.split('x').map(Number);
    const want = readNpy(path.join(EXTRAS, `gaussian_${p}_v1.npy`));
    assert.deepEqual(want.shape, patch);
    const got = getGaussian(patch);
    relClose(got, want.data as Float32Array, 1e-6, `v1 ${p}`);
    const c = patch.reduce((acc, s, d) => acc * s + Math.floor(s / 2), 0);
    assert.equal(got[c], 1);
  }
  // the plan patch of synthlung, subsampled [::8, ::8, ::8]
  const full = getGaussian([96, 160, 160]);
  const sub = readNpy(path.join(EXTRAS, 'gaussian_96x160x160_sub8_v1.npy'));
  assert.deepEqual(sub.shape, [12, 20, 20]);
  const picked = new Float32Array(12 * 20 * 20);
  let k = 0;
  for (let z = 0; z < 96; z += 8) for (let y = 0; y < 160; y += 8) for (let x = 0; x < 160; x += 8) picked[k++] = full[(z * 160 + y) * 160 + x];
  relClose(picked, sub.data as Float32Array, 1e-6, 'v1 96x160x160 sub8');
  // full-map statistics from manifest_v1.json
  const man = JSON.parse(fs.readFileSync(path.join(EXTRAS, 'manifest_v1.json'), 'utf8'));
  const fs_ = man.entries['gaussian_96x160x160_sub8_v1.npy'].full_stats;
  let sum = 0;
  let min = Infinity;
  for (const v of full) {
    sum += v;
    if (v < min) min = v;
  }
  assert.ok(Math.abs(sum - fs_.sum_f64) / fs_.sum_f64 < 1e-6, `sum ${sum} vs ${fs_.sum_f64}`);
  assert.ok(Math.abs(min - fs_.min) / fs_.min < 1e-6, `min ${min} vs ${fs_.min}`);
});

function f16Ulp(v: number): number {
  const a = Math.abs(v);
  if (a < 2 ** -14) return 2 ** -24;
  return 2 ** (Math.floor(Math.log2(a)) - 10);
}

test('Gaussian importance map v2 (float16, max 10) within 1 ulp of official', () => {
  for (const p of [...GAUSS_PATCHES]) {
    const patch = p.split('x').map(Number);
    const want = readNpy(path.join(EXTRAS, `gaussian_${p}_v2.npy`)).data as Float32Array;
    const got = getGaussianV2(patch);
    let exact = 0;
    for (let i = 0; i < want.length; i++) {
      assert.ok(Math.abs(got[i] - want[i]) <= f16Ulp(want[i]), `${p}[${i}]: ${got[i]} vs ${want[i]}`);
      if (got[i] === want[i]) exact++;
    }
    assert.ok(exact / want.length > 0.99, `${p}: only ${exact}/${want.length} bit-equal`);
  }
  assert.equal(roundToFloat16(1 + 2 ** -11), 1); // tie to even
  assert.equal(roundToFloat16(1 + 3 * 2 ** -11), 1 + 2 ** -9);
  assert.equal(roundToFloat16(2 ** -25), 0); // half the smallest subnormal, tie to even (0)
  assert.equal(roundToFloat16(3 * 2 ** -26), 2 ** -24);
});

// ---- fake networks at the PatchPredictor boundary ----

/** Class-1 logit = the input value, class-0 logit = 0, pointwise: probabilities are sigmoid(x) anywhere. */
const pointwise: PatchPredictor = async (batch, shape) => {
  const [n, cin] = shape;
  const vox = shape.slice(2).reduce((a, b) => a * b, 1);
  const out = new Float32Array(n * 2 * vox);
  for (let b = 0; b < n; b++) for (let v = 0; v < vox; v++) out[(b * 2 + 1) * vox + v] = batch[b * cin * vox + v];
  return out;
};

/** Mirror-equivariant: a 3-tap box filter along every spatial axis with zero padding (C_in = 1, 2 classes). */
const boxNet: PatchPredictor = async (batch, shape) => {
  const [n] = shape;
  const sp = shape.slice(2);
  const vox = sp.reduce((a, b) => a * b, 1);
  const out = new Float32Array(n * 2 * vox);
  for (let b = 0; b < n; b++) {
    let cur = batch.slice(b * vox, (b + 1) * vox);
    let stride = vox;
    for (let d = 0; d < sp.length; d++) {
      stride /= sp[d];
      const nxt = new Float32Array(vox);
      for (let i = 0; i < vox; i++) {
        const coord = Math.floor(i / stride) % sp[d];
        nxt[i] = cur[i] + (coord > 0 ? cur[i - stride] : 0) + (coord < sp[d] - 1 ? cur[i + stride] : 0);
      }
      cur = nxt;
    }
    for (let v = 0; v < vox; v++) out[(b * 2 + 1) * vox + v] = cur[v] / 9;
  }
  return out;
};

/** Not equivariant: the logit depends on the position inside the patch. */
const skewNet: PatchPredictor = async (batch, shape) => {
  const [n] = shape;
  const sp = shape.slice(2);
  const vox = sp.reduce((a, b) => a * b, 1);
  const out = new Float32Array(n * 2 * vox);
  for (let b = 0; b < n; b++) {
    for (let v = 0; v < vox; v++) {
      let rest = v;
      let pos = 0;
      for (let d = sp.length - 1; d >= 0; d--) {
        pos += ((rest % sp[d]) * (d + 1)) / sp[d];
        rest = Math.floor(rest / sp[d]);
      }
      out[(b * 2 + 1) * vox + v] = batch[b * vox + v] * (1 + pos) + 0.3 * pos;
    }
  }
  return out;
};

function randomVolume(shape: number[], seed: number): Float32Array {
  const n = shape.reduce((a, b) => a * b, 1);
  const a = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = s / 2 ** 32 - 0.5;
  }
  return a;
}

function flip3(a: Float32Array, shape: number[], axes: number[]): Float32Array {
  const [C, Z, Y, X] = shape;
  const out = new Float32Array(a.length);
  for (let c = 0; c < C; c++)
    for (let z = 0; z < Z; z++)
      for (let y = 0; y < Y; y++)
        for (let x = 0; x < X; x++) {
          const sz = axes.includes(0) ? Z - 1 - z : z;
          const sy = axes.includes(1) ? Y - 1 - y : y;
          const sx = axes.includes(2) ? X - 1 - x : x;
          out[((c * Z + z) * Y + y) * X + x] = a[((c * Z + sz) * Y + sy) * X + sx];
        }
  return out;
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

test('pointwise network: overlapping tiles, Gaussian and padding reproduce sigmoid(x) exactly per voxel', async () => {
  for (const [shape, patch] of [
    [[1, 11, 20, 9], [6, 8, 8]], // overlapping tiles on y, one axis needs padding
    [[1, 3, 5, 4], [6, 8, 8]], // everything padded (odd differences: below = diff // 2)
    [[1, 4, 9, 13], [8, 8]], // 2D network slice by slice
  ] as [number[], number[]][]) {
    const img = randomVolume(shape, 7);
    const r = await predictSlidingWindow(img, shape, { patchSize: patch, numClasses: 2, predictPatch: pointwise });
    assert.deepEqual(r.shape, [2, ...shape.slice(1)]);
    const n = img.length;
    for (let v = 0; v < n; v++) {
      const p1 = 1 / (1 + Math.exp(-img[v]));
      assert.ok(Math.abs(r.data[n + v] - p1) < 2e-6, `voxel ${v}: ${r.data[n + v]} vs ${p1}`);
      assert.ok(Math.abs(r.data[v] + r.data[n + v] - 1) < 2e-6);
    }
  }
});

test('mirror TTA: v1 combination order and count', () => {
  assert.equal(mirrorCombinations(3, [0, 1, 2]).length, 8);
  assert.equal(mirrorCombinations(2, [0, 1]).length, 4);
  assert.deepEqual(mirrorCombinations(3, [0, 2]), [[], [2], [0], [2, 0]]);
  assert.deepEqual(mirrorCombinations(3, []), [[]]);
  assert.throws(() => mirrorCombinations(2, [2]), /mirror axes/);
});

test('TTA: symmetric input + mirror-equivariant network gives a symmetric result', async () => {
  // odd patch and integer steps (0,2,4 / 0,3,6 / 0,4,8) keep the tile grid and Gaussian symmetric
  const shape = [1, 9, 13, 17];
  const base = randomVolume(shape, 3);
  const sym = new Float32Array(base.length);
  for (const axes of mirrorCombinations(3, [0, 1, 2])) {
    const f = flip3(base, shape, axes);
    for (let i = 0; i < sym.length; i++) sym[i] += f[i] / 8;
  }
  const r = await predictSlidingWindow(sym, shape, { patchSize: [5, 7, 9], numClasses: 2, predictPatch: boxNet });
  const oshape = [2, 9, 13, 17];
  for (const axes of [[0], [1], [2], [0, 1, 2]]) {
    assert.ok(maxAbsDiff(r.data, flip3(r.data, oshape, axes)) < 1e-6, `not symmetric along ${axes}`);
  }
});

test('TTA makes a non-equivariant network equivariant; without TTA it is not', async () => {
  const shape = [1, 9, 13, 17];
  const img = randomVolume(shape, 11);
  const oshape = [2, 9, 13, 17];
  const opts = { patchSize: [5, 7, 9], numClasses: 2, predictPatch: skewNet };
  for (const axes of [[0], [2], [1, 2]]) {
    const a = await predictSlidingWindow(img, shape, opts);
    const b = await predictSlidingWindow(flip3(img, shape, axes), shape, opts);
    assert.ok(maxAbsDiff(flip3(b.data, oshape, axes), a.data) < 2e-6, `TTA result not equivariant along ${axes}`);
    const a0 = await predictSlidingWindow(img, shape, { ...opts, mirrorAxes: [] });
    const b0 = await predictSlidingWindow(flip3(img, shape, axes), shape, { ...opts, mirrorAxes: [] });
    assert.ok(maxAbsDiff(flip3(b0.data, oshape, axes), a0.data) > 1e-3, 'fake network is accidentally equivariant');
  }
});

test('network calls: batch shape, mirror variants per tile, tilesPerBatch grouping', async () => {
  const calls: number[][] = [];
  const spy: PatchPredictor = async (b, s) => {
    calls.push([...s]);
    return pointwise(b, s);
  };
  const shape = [1, 9, 13, 17];
  const img = randomVolume(shape, 5);
  const r1 = await predictSlidingWindow(img, shape, { patchSize: [5, 7, 9], numClasses: 2, predictPatch: spy });
  assert.equal(calls.length, 27); // 3 x 3 x 3 tiles
  assert.deepEqual(calls[0], [8, 1, 5, 7, 9]);
  calls.length = 0;
  const r2 = await predictSlidingWindow(img, shape, {
    patchSize: [5, 7, 9],
    numClasses: 2,
    predictPatch: spy,
    tilesPerBatch: 4,
    mirrorAxes: [0, 1],
  });
  assert.equal(calls.length, 7);
  assert.deepEqual(calls[0], [16, 1, 5, 7, 9]);
  assert.deepEqual(calls[6], [12, 1, 5, 7, 9]); // 27 = 6 x 4 + 3 tiles
  assert.ok(maxAbsDiff(r1.data, r2.data) < 1e-6);
  calls.length = 0;
  await predictSlidingWindow(new Float32Array(2 * 3 * 8 * 8), [2, 3, 8, 8], {
    patchSize: [8, 8],
    numClasses: 2,
    predictPatch: async (b, s) => {
      calls.push([...s]);
      return new Float32Array(s[0] * 2 * 64);
    },
  });
  assert.equal(calls.length, 3); // one tile per slice
  assert.deepEqual(calls[0], [4, 2, 8, 8]);
  await assert.rejects(
    predictSlidingWindow(img, shape, { patchSize: [5, 7, 9], numClasses: 2, predictPatch: async () => new Float32Array(3) }),
    /network returned 3 values/,
  );
});

test('2D network on a volume equals predicting each slice on its own', async () => {
  const shape = [1, 5, 21, 19];
  const img = randomVolume(shape, 9);
  const opts = { patchSize: [12, 10], numClasses: 2, predictPatch: skewNet };
  const whole = await predictSlidingWindow(img, shape, opts);
  const sliceVox = 21 * 19;
  for (let z = 0; z < 5; z++) {
    const one = await predictSlidingWindow(img.slice(z * sliceVox, (z + 1) * sliceVox), [1, 1, 21, 19], opts);
    for (let c = 0; c < 2; c++) {
      for (let v = 0; v < sliceVox; v++) {
        assert.equal(whole.data[(c * 5 + z) * sliceVox + v], one.data[c * sliceVox + v]);
      }
    }
  }
});

test('fold ensembling of identical models equals one model; different models average', async () => {
  const shape = [1, 9, 13, 17];
  const img = randomVolume(shape, 13);
  const opts = { patchSize: [5, 7, 9], numClasses: 2, mirrorAxes: [0, 1, 2] };
  const one = await predictSlidingWindow(img, shape, { ...opts, predictPatch: skewNet });
  const ens = await predictEnsemble(img, shape, opts, [skewNet, skewNet, skewNet, skewNet, skewNet]);
  assert.ok(maxAbsDiff(one.data, ens.data) < 1e-6);
  const other = await predictSlidingWindow(img, shape, { ...opts, predictPatch: boxNet });
  const mix = await predictEnsemble(img, shape, opts, [skewNet, boxNet]);
  for (let i = 0; i < mix.data.length; i++) assert.ok(Math.abs(mix.data[i] - (one.data[i] + other.data[i]) / 2) < 1e-6);
});
