import { test } from 'node:test';
import * as assert from 'node:assert/strict';
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
