import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { RandomState } from '../../sdk/util/random';
import { BatchGenerator } from '../../sdk/training/batch_generator';
import { DataLoader3D, InMemoryCaseProvider } from '../../sdk/training/data_loader';
import { setupDAParams } from '../../sdk/training/patch_size';
import { codedCase } from './helpers';

function makeLoader(seed: number) {
  const prov = new InMemoryCaseProvider({ a: codedCase(14, 16, 14, [[7, 8, 7]]), b: codedCase(12, 18, 12, [[3, 4, 5]]) });
  const p = setupDAParams({ patchSize: [8, 8, 8], poolOpKernelSizes: [[2, 2, 2], [2, 2, 2]], useMaskForNorm: [false] });
  const dl = new DataLoader3D(prov, { patchSize: p.basicGeneratorPatchSize, finalPatchSize: p.patchSize, batchSize: 2 }, new RandomState(seed));
  return { dl, p };
}

test('BatchGenerator: worker threads give the same batches as inline, in order, and report waiting time', async () => {
  const a = makeLoader(1);
  const inline = new BatchGenerator(a.dl, { params: a.p, threads: 0, seed: 5 });
  const b = makeLoader(1);
  const threaded = new BatchGenerator(b.dl, { params: b.p, threads: 1, prefetch: 2, seed: 5 });
  try {
    for (let i = 0; i < 4; i++) {
      const x = await inline.next();
      const y = await threaded.next();
      assert.deepEqual(y.keys, x.keys);
      assert.deepEqual(y.dataShape, [2, 1, 8, 8, 8]);
      assert.deepEqual(y.targetShapes, [[2, 1, 8, 8, 8], [2, 1, 4, 4, 4]]);
      assert.deepEqual(Array.from(y.data), Array.from(x.data));
      assert.deepEqual(Array.from(y.target![1]), Array.from(x.target![1]));
    }
    assert.equal(threaded.stats.batches, 4);
    assert.ok(threaded.stats.waitMsTotal >= threaded.stats.waitMsLast && threaded.stats.waitMsLast >= 0);
    assert.ok(threaded.stats.augmentMsMean >= 0);
  } finally {
    await inline.close();
    await threaded.close();
  }
  await assert.rejects(threaded.next(), /closed/);
});

/**
 * Run in a child process so that its exit shows whether anything keeps the event loop alive: generators are closed
 * while batches are in flight (workers still booting, batches being augmented, finished batches being posted), close()
 * is called twice, and every close() must resolve (the old race: a batch posted after close() began unref'd its
 * worker, the pending terminate() no longer held the loop, and node exited silently in the middle of the loop).
 */
const CLOSE_CHILD = `
const assert = require('node:assert/strict');
const { RandomState } = require(process.env.ROOT + '/sdk/util/random');
const { BatchGenerator } = require(process.env.ROOT + '/sdk/training/batch_generator');
const { DataLoader3D, InMemoryCaseProvider } = require(process.env.ROOT + '/sdk/training/data_loader');
const { setupDAParams } = require(process.env.ROOT + '/sdk/training/patch_size');
const { codedCase } = require(process.env.ROOT + '/test/training/helpers');
const fail = (what) => (e) => { console.log(what, (e && e.stack) || e); process.exit(3); };
process.on('unhandledRejection', fail('UNHANDLED REJECTION'));
process.on('uncaughtException', fail('UNCAUGHT EXCEPTION'));
(async () => {
  const prov = new InMemoryCaseProvider({ a: codedCase(14, 16, 14, [[7, 8, 7]]), b: codedCase(12, 18, 12, [[3, 4, 5]]) });
  const p = setupDAParams({ patchSize: [8, 8, 8], poolOpKernelSizes: [[2, 2, 2], [2, 2, 2]], useMaskForNorm: [false] });
  const N = Number(process.env.ROUNDS);
  for (let i = 0; i < N; i++) {
    const dl = new DataLoader3D(prov, { patchSize: p.basicGeneratorPatchSize, finalPatchSize: p.patchSize, batchSize: 2 }, new RandomState(i));
    const g = new BatchGenerator(dl, { params: p, threads: 2, prefetch: 6, seed: i });
    g.warmUp();
    const taken = g.next(); // in flight at close unless it is awaited below
    taken.catch(() => undefined);
    if (i % 3 >= 1) await taken; // workers up, the other batches being augmented or posted
    if (i % 3 === 2) await new Promise((r) => setTimeout(r, i % 7));
    // what node does when a worker posted its batch just before close(): the message is dispatched after close()
    // began; odd rounds replay that deterministically for every batch still in flight, even rounds leave it to timing
    const workers = [...g.workers];
    const busy = [...g.busy];
    const c1 = g.close();
    if (i % 2 === 1) workers.forEach((w, wi) => { for (let k = 0; k < busy[wi]; k++) w.emit('message', { id: -1 - k, ms: 0 }); });
    const c2 = g.close();
    assert.equal(c1, c2, 'close() is idempotent');
    await c1;
    await g.close();
    await assert.rejects(g.next(), /closed/);
    if (i % 3 === 0) await assert.rejects(taken, /closed/);
    console.log('closed ' + i);
  }
  console.log('done');
})();
`;

test('BatchGenerator.close() while batches are in flight: idempotent, always resolves, no unhandled error, lets the process exit', () => {
  const rounds = 12;
  const r = spawnSync(process.execPath, ['--require', 'ts-node/register/transpile-only', '-e', CLOSE_CHILD], {
    cwd: path.resolve(__dirname, '../..'),
    env: { ...process.env, TS_NODE_TRANSPILE_ONLY: '1', ROOT: path.resolve(__dirname, '../..'), ROUNDS: String(rounds) },
    encoding: 'utf8',
    timeout: 240_000, // killed here = something kept the event loop alive after the last close()
  });
  const out = `${r.stdout}\n${r.stderr}`;
  assert.equal(r.signal, null, `child did not exit by itself (event loop kept alive?):\n${out}`);
  assert.equal(r.status, 0, out);
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines.filter((l) => l.startsWith('closed ')).length, rounds, `a close() never resolved:\n${out}`);
  assert.equal(lines[lines.length - 1], 'done', out);
});
