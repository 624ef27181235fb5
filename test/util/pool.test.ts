import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as path from 'path';
import { mapInWorkers } from '../../sdk/util/pool';

const MOD = path.join(__dirname, 'fixtures/square.ts');

test('mapInWorkers keeps input order over 2 worker threads (ts module under ts-node)', async () => {
  const inputs = Array.from({ length: 7 }, (_, i) => ({ id: `c${i}`, values: new Float32Array([i, i + 1]) }));
  const out = await mapInWorkers<typeof inputs[0], { id: string; out: Float32Array }>(MOD, 'square', inputs, { threads: 2 });
  assert.deepEqual(out.map((o) => o.id), inputs.map((x) => x.id));
  assert.deepEqual(Array.from(out[3].out), [9, 16]);
  assert.ok(out[3].out instanceof Float32Array);
});

test('mapInWorkers inline (threads 1) gives the same result', async () => {
  const inputs = [{ id: 'a', values: new Float32Array([2]) }];
  const out = await mapInWorkers<typeof inputs[0], { out: Float32Array }>(MOD, 'square', inputs, { threads: 1 });
  assert.deepEqual(Array.from(out[0].out), [4]);
});

test('a failing input is named in the error', async () => {
  const inputs = [
    { id: 'ok', values: new Float32Array([1]) },
    { id: 'bad', values: new Float32Array([-1]) },
  ];
  await assert.rejects(
    mapInWorkers(MOD, 'square', inputs, { threads: 2, describe: (x) => (x as { id: string }).id }),
    /bad: negative input in bad/,
  );
});
