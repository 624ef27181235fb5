/**
 * Tile parallelism (sdk/inference/tile_workers.ts): the sliding window with several calls in flight aggregates in tile
 * order, so its output equals the one-call-at-a-time output bit for bit whatever order the calls finish in;
 * predictCases with tile workers writes the same segmentation and probabilities as on one thread; a worker that
 * dies fails the prediction with a message (no hang); the 'auto' count rule.
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../sdk/network/backend';
import { GenericUNet } from '../../sdk/network/generic_unet';
import { PatchPredictor, predictSlidingWindow, PredictionCancelled } from '../../sdk/inference/sliding_window';
import { tfjsPatchPredictor } from '../../sdk/inference/tfjs_predictor';
import { predictCases } from '../../sdk/inference/predict';
import { TileWorkers, tileWorkerCount, TILE_WORKERS_MIN_GFLOP_PER_CALL } from '../../sdk/inference/tile_workers';
import { forwardFlops } from '../../sdk/network/architecture';
import { readNifti } from '../../sdk/io/nifti';
import { makeVolume } from '../../sdk/io/volume';
import { TinyTask, tinyTask } from '../training/trainer_fixture';
import { LUNG_3D_FULLRES } from '../../bench/network_webgpu';

let task: TinyTask;

before(async () => {
  process.env.NNUNET_PROGRESS = '0';
  await initBackend({ backend: process.env.NNUNET_BACKEND ? undefined : 'auto', log: false });
  task = await tinyTask();
});

/** A deterministic fake network whose calls finish in a scrambled order (later calls often first). */
function scrambledPredictor(numClasses: number): { p: PatchPredictor; order: number[] } {
  const order: number[] = [];
  let k = 0;
  const p: PatchPredictor = (batch, shape) => {
    const call = k++;
    const [n, , ...sp] = shape;
    const vox = sp.reduce((a, b) => a * b, 1);
    const out = new Float32Array(n * numClasses * vox);
    for (let b = 0; b < n; b++) {
      for (let c = 0; c < numClasses; c++) {
        for (let v = 0; v < vox; v++) out[(b * numClasses + c) * vox + v] = Math.sin(batch[b * vox + v] * (c + 1.3)) * 3;
      }
    }
    return new Promise((resolve) =>
      setTimeout(() => {
        order.push(call);
        resolve(out);
      }, (call * 7) % 5),
    );
  };
  return { p, order };
}

describe('tile parallelism', () => {
  test('several calls in flight give the one-call result bit for bit, whatever order the calls finish in', async () => {
    const shape = [1, 21, 30, 26];
    const image = new Float32Array(shape.reduce((a, b) => a * b, 1)).map((_, i) => Math.cos(i * 0.37));
    const base = { patchSize: [8, 12, 10], numClasses: 3, mirrorAxes: [0, 2] };
    const one = await predictSlidingWindow(image, shape, { ...base, predictPatch: scrambledPredictor(3).p });
    for (const concurrency of [2, 4]) {
      const s = scrambledPredictor(3);
      const progress: number[] = [];
      const many = await predictSlidingWindow(image, shape, { ...base, predictPatch: s.p, concurrency, onProgress: (d) => void progress.push(d) });
      assert.ok(Buffer.from(many.data.buffer).equals(Buffer.from(one.data.buffer)), `concurrency ${concurrency}: same bits`);
      assert.ok(s.order.some((c, i) => c !== i), 'the calls did finish out of order');
      assert.deepEqual(progress, progress.map((_, i) => i + 1), 'progress counts tiles in order');
    }
  });

  test('a one-tile case: the mirrorings of its call are split over the calls in flight, and the result keeps its bits', async () => {
    const shape = [1, 8, 12, 10];
    const image = new Float32Array(8 * 12 * 10).map((_, i) => Math.cos(i * 0.11));
    const base = { patchSize: [8, 12, 10], numClasses: 2, mirrorAxes: [0, 1, 2] };
    const one = await predictSlidingWindow(image, shape, { ...base, predictPatch: scrambledPredictor(2).p });
    const batches: number[] = [];
    const s = scrambledPredictor(2);
    const p: PatchPredictor = (b, sh) => (batches.push(sh[0]), s.p(b, sh));
    const split = await predictSlidingWindow(image, shape, { ...base, predictPatch: p, concurrency: 3 });
    assert.deepEqual(batches, [3, 3, 2], '8 mirrorings in 3 calls');
    assert.ok(Buffer.from(split.data.buffer).equals(Buffer.from(one.data.buffer)));
  });

  test('cancel with calls in flight: PredictionCancelled, and the calls left running do not surface as unhandled rejections', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown) => unhandled.push(e);
    process.on('unhandledRejection', onUnhandled);
    try {
      const shape = [1, 20, 30, 30];
      const image = new Float32Array(20 * 30 * 30);
      const ac = new AbortController();
      let calls = 0;
      const failing: PatchPredictor = () => {
        calls++;
        return new Promise((_, reject) => setTimeout(() => reject(new Error('late failure')), 5));
      };
      const okFirst = scrambledPredictor(2);
      const p: PatchPredictor = (b, s) => (calls === 0 ? (calls++, okFirst.p(b, s)) : failing(b, s));
      await assert.rejects(
        predictSlidingWindow(image, shape, { patchSize: [8, 8, 8], numClasses: 2, predictPatch: p, concurrency: 3, signal: ac.signal, onProgress: () => ac.abort() }),
        (e: Error) => e instanceof PredictionCancelled,
      );
      await new Promise((r) => setTimeout(r, 50));
      assert.deepEqual(unhandled, []);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  test('predictCases with a tile worker writes the one-thread segmentation and probabilities, bit for bit', async () => {
    const cfg = task.plans.configuration('3d_fullres');
    const net = GenericUNet.fromPlans(cfg as never, { numInputChannels: 1, numClasses: 3, seed: 5 });
    try {
      const run = async (tileWorkers: number, dir: string) =>
        predictCases({
          plans: task.plans,
          configuration: '3d_fullres',
          networks: [net],
          input: path.join(task.dataset.dir, 'imagesTr'),
          caseIds: task.val.slice(0, 2),
          outputDir: path.join(task.root, dir),
          postprocessing: false,
          saveProbabilities: true,
          stepSize: 0.25, // more tiles per case, so both instances work
          progress: false,
          tileWorkers,
        });
      const one = await run(0, 'tiles_one');
      const two = await run(1, 'tiles_two');
      for (const [i, c] of one.cases.entries()) {
        const d = two.cases[i];
        assert.ok(c.ok && d.ok, `${c.id}: ${c.error ?? d.error}`);
        assert.ok(fs.readFileSync(c.file!).equals(fs.readFileSync(d.file!)), `${c.id}: same segmentation file`);
        assert.ok(fs.readFileSync(c.probabilities!).equals(fs.readFileSync(d.probabilities!)), `${c.id}: same probabilities`);
      }
    } finally {
      net.dispose();
    }
  });

  test('predictCases on a one-tile case with mirroring: the 8 mirrorings split over this thread and a worker give the one-thread files', async () => {
    const cfg = task.plans.configuration('3d_fullres');
    const net = GenericUNet.fromPlans(cfg as never, { numInputChannels: 1, numClasses: 3, seed: 7 });
    try {
      const full = await readNifti(path.join(task.dataset.dir, 'imagesTr', `${task.val[0]}.nii.gz`));
      const [Z, Y, X] = full.shape;
      const sub = [12, 14, 13] as [number, number, number]; // smaller than the 16^3 patch: one tile
      const [oz, oy, ox] = [(Z - sub[0]) >> 1, (Y - sub[1]) >> 1, (X - sub[2]) >> 1]; // a centred block
      const data = new Float32Array(sub[0] * sub[1] * sub[2]);
      for (let z = 0; z < sub[0]; z++)
        for (let y = 0; y < sub[1]; y++)
          for (let x = 0; x < sub[2]; x++) data[(z * sub[1] + y) * sub[2] + x] = Number(full.data[((z + oz) * Y + y + oy) * X + x + ox]);
      const images = [makeVolume(data, sub, { spacing: full.spacing, origin: full.origin, direction: full.direction })];
      const run = (tileWorkers: number, dir: string) =>
        predictCases({ plans: task.plans, configuration: '3d_fullres', networks: [net], input: [{ id: 'one_tile', images }], outputDir: path.join(task.root, dir), postprocessing: false, saveProbabilities: true, mirroring: true, progress: false, tileWorkers });
      const [a, b] = [await run(0, 'one_tile_0'), await run(1, 'one_tile_1')];
      const [c, d] = [a.cases[0], b.cases[0]];
      assert.ok(c.ok && d.ok, c.error ?? d.error);
      assert.ok(fs.readFileSync(c.file!).equals(fs.readFileSync(d.file!)), 'same segmentation file');
      assert.ok(fs.readFileSync(c.probabilities!).equals(fs.readFileSync(d.probabilities!)), 'same probabilities');
    } finally {
      net.dispose();
    }
  });

  test('a worker that dies fails the call with a message instead of hanging; closing twice is harmless', async () => {
    const cfg = task.plans.configuration('3d_fullres');
    const net = GenericUNet.fromPlans(cfg as never, { numInputChannels: 1, numClasses: 3, seed: 5 });
    const pool = await TileWorkers.start(1, tf.getBackend() as never);
    try {
      assert.equal(pool.concurrency, 2);
      const [p] = await pool.predictors([net]);
      const patch = cfg.patch_size;
      const vox = patch.reduce((a, b) => a * b, 1);
      const x = new Float32Array(vox).map((_, i) => Math.sin(i));
      // the worker's output equals this thread's
      const local = await tfjsPatchPredictor((t) => net.predict(t))(x, [1, 1, ...patch]);
      const viaWorker = await p(x, [1, 1, ...patch]);
      assert.ok(Buffer.from(viaWorker.buffer).equals(Buffer.from(local.buffer)), 'worker output = local output');
      // kill the worker thread under the pool
      await (pool as unknown as { workers: { terminate(): Promise<number> }[] }).workers[0].terminate();
      await assert.rejects(p(x, [1, 1, ...patch]), /tile worker exited/);
    } finally {
      await pool.close();
      await pool.close();
      net.dispose();
    }
  });

  test("'auto' starts workers only for heavy calls on wasm/cpu; bad counts are refused", () => {
    const many = tileWorkerCount('auto', TILE_WORKERS_MIN_GFLOP_PER_CALL * 2);
    const onWasmOrCpu = ['wasm', 'cpu'].includes(tf.getBackend());
    assert.equal(many > 0, onWasmOrCpu && require('os').availableParallelism() > 1);
    assert.equal(tileWorkerCount('auto', TILE_WORKERS_MIN_GFLOP_PER_CALL / 2), 0);
    assert.equal(tileWorkerCount(2, 0), 2);
    assert.throws(() => tileWorkerCount(-1, 0), /non-negative integer/);
    assert.throws(() => tileWorkerCount(1.5, 0), /non-negative integer/);
    // the figures the threshold's comment quotes
    const lung = GenericUNet.fromPlans(LUNG_3D_FULLRES as never, { numInputChannels: 1, numClasses: 2, seed: 1 });
    try {
      assert.equal(Math.round(forwardFlops(lung.architecture, [80, 192, 160], 1) / 1e9), 1119);
    } finally {
      lung.dispose();
    }
  });
});
