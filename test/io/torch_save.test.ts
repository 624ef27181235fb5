/** torch.save writer (sdk/io/torch_save.ts): what it writes reads back through our allow-listed reader unchanged. */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { PyDevice, PyOrderedDict, PyTuple, TorchTensorOut, torchSaveBytes, writePickle } from '../../sdk/io/torch_save';
import { parseTorchCheckpoint, TorchTensor } from '../../sdk/io/torch_checkpoint';
import { readPickle } from '../../sdk/io/pickle';

test('plain values round-trip through the pickle reader', () => {
  const v = { a: 1, b: -7, c: 2 ** 40, d: -(2 ** 35), e: 1.5, f: 'é', g: null, h: true, i: false, j: [1, [2, 'x']], k: new PyTuple([0, 1]), l: new PyTuple([1, 2, 3, 4]) };
  const r = readPickle(writePickle(v)) as Record<string, unknown>;
  assert.deepEqual(
    JSON.parse(JSON.stringify(r, (_, x) => (typeof x === 'bigint' ? Number(x) : x))),
    { a: 1, b: -7, c: 2 ** 40, d: -(2 ** 35), e: 1.5, f: 'é', g: null, h: true, i: false, j: [1, [2, 'x']], k: [0, 1], l: [1, 2, 3, 4] },
  );
});

test('a checkpoint with tensors, an OrderedDict and a device reads back (zip layout of torch.save)', () => {
  const w = Float32Array.from({ length: 24 }, (_, i) => i / 7 - 1);
  const bytes = torchSaveBytes({ network_weights: new PyOrderedDict([['x.weight', new TorchTensorOut([2, 3, 2, 2], w)], ['x.bias', new TorchTensorOut([2], Float32Array.from([0.5, -0.25]))]]), device: new PyDevice('cpu') }, 'checkpoint_final');
  const ck = parseTorchCheckpoint(bytes, 'mem');
  assert.equal(ck.format, 'zip');
  assert.equal(ck.archive, 'checkpoint_final');
  const v = ck.value as { network_weights: Record<string, TorchTensor>; device: string };
  assert.deepEqual(Object.keys(v.network_weights), ['x.weight', 'x.bias']);
  assert.deepEqual(v.network_weights['x.weight'].shape, [2, 3, 2, 2]);
  assert.deepEqual(Array.from(v.network_weights['x.weight'].data as Float32Array), Array.from(w));
  assert.equal(v.device, 'cpu');
});
