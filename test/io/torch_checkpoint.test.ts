import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { zipSync } from 'fflate';
import { parseTorchCheckpoint, readTorchCheckpoint, tensorsOf, TorchTensor } from '../../sdk/io/torch_checkpoint';

const V1 = path.resolve(__dirname, '../../../shared/fixtures/official/checkpoints/Task004_Hippocampus_v1_2d/nnUNetTrainerV2__nnUNetPlansv2.1');
const CKPT = path.join(V1, 'fold_0/model_final_checkpoint.model');

const ops = (...parts: (string | number[] | Uint8Array)[]) =>
  Uint8Array.from(parts.flatMap((p) => (typeof p === 'string' ? [...Buffer.from(p, 'latin1')] : [...p])));
const str = (s: string) => ops('X', u32(s.length), s);
function u32(n: number): number[] {
  return [n & 0xff, (n >> 8) & 0xff, (n >> 16) & 0xff, (n >>> 24) & 0xff];
}

/**
 * A protocol-2 data.pkl as torch.save writes it: {'w': tensor} where the tensor is a strided view
 * _rebuild_tensor_v2(storage('0', FloatStorage, numel 6), offset 1, size (2, 2), stride (1, 3), False, OrderedDict()).
 */
function dataPkl(): Uint8Array {
  return ops(
    '\x80\x02}',
    str('w'),
    'ctorch._utils\n_rebuild_tensor_v2\n(',
    '(', str('storage'), 'ctorch\nFloatStorage\n', str('0'), str('cpu'), 'K\x06tQ', // persistent id
    'K\x01', 'K\x02K\x02\x86', 'K\x01K\x03\x86', '\x89', 'ccollections\nOrderedDict\n)R',
    'tR',
    's.',
  );
}

function storageBytes(values: number[]): Uint8Array {
  const b = new Uint8Array(4 * values.length);
  const dv = new DataView(b.buffer);
  values.forEach((v, i) => dv.setFloat32(4 * i, v, true));
  return b;
}

test('torch.save zip: persistent-id storages, strided view copied contiguously', () => {
  const zip = zipSync({ 'archive/data.pkl': dataPkl(), 'archive/data/0': storageBytes([0, 1, 2, 3, 4, 5]), 'archive/byteorder': ops('little'), 'archive/version': ops('3\n') }, { level: 0 });
  const c = parseTorchCheckpoint(zip, 'tiny.pt');
  assert.equal(c.format, 'zip');
  assert.equal(c.archive, 'archive');
  const w = (c.value as { w: TorchTensor }).w;
  assert.ok(w instanceof TorchTensor);
  assert.equal(w.dtype, 'float32');
  assert.deepEqual(w.shape, [2, 2]);
  assert.deepEqual(w.strides, [1, 3]);
  assert.equal(w.storageOffset, 1);
  // element [i, j] = storage[1 + i + 3 j]
  assert.deepEqual(Array.from(w.data as Float32Array), [1, 4, 2, 5]);
  // missing storage entry and a storage too small for the view: errors name the file and entry
  const missing = zipSync({ 'archive/data.pkl': dataPkl() });
  assert.throws(() => parseTorchCheckpoint(missing, 'tiny.pt'), /tiny\.pt: storage archive\/data\/0 is missing/);
  const small = zipSync({ 'archive/data.pkl': dataPkl(), 'archive/data/0': storageBytes([0, 1, 2]) });
  assert.throws(() => parseTorchCheckpoint(small, 'tiny.pt'), /tiny\.pt: storage archive\/data\/0 has 12 bytes/);
});

test('torch.save zip: a forbidden global inside data.pkl is refused naming the file and the global', () => {
  const evil = ops('\x80\x02cposix\nsystem\n(', str('echo pwned'), 'tR.');
  const zip = zipSync({ 'archive/data.pkl': evil });
  assert.throws(() => parseTorchCheckpoint(zip, 'evil.model'), /evil\.model: archive\/data\.pkl: refusing global 'posix\.system'/);
});

test('the official v1 checkpoint: state_dict names, shapes and dtypes', () => {
  const c = readTorchCheckpoint(CKPT);
  assert.equal(c.format, 'zip');
  assert.equal(c.byteorder, 'little');
  const v = c.value as Record<string, unknown>;
  assert.deepEqual(Object.keys(v), ['epoch', 'state_dict', 'optimizer_state_dict', 'lr_scheduler_state_dict', 'plot_stuff', 'best_stuff']);
  assert.equal(v.epoch, 4);
  const sd = tensorsOf(v.state_dict, CKPT);
  assert.equal(sd.size, 62);
  const shape = (n: string) => sd.get(n)?.shape;
  assert.deepEqual(shape('conv_blocks_context.0.blocks.0.conv.weight'), [32, 1, 3, 3]);
  assert.deepEqual(shape('conv_blocks_context.3.0.blocks.0.conv.weight'), [256, 128, 3, 3]);
  assert.deepEqual(shape('conv_blocks_context.3.1.blocks.0.instnorm.bias'), [256]);
  assert.deepEqual(shape('conv_blocks_localization.0.0.blocks.0.conv.weight'), [128, 256, 3, 3]);
  assert.deepEqual(shape('tu.0.weight'), [256, 128, 2, 2]);
  assert.deepEqual(shape('seg_outputs.2.weight'), [3, 32, 1, 1]);
  let floats = 0;
  for (const t of sd.values()) {
    assert.equal(t.dtype, 'float32');
    assert.ok(t.data instanceof Float32Array);
    assert.equal(t.data.length, t.size);
    floats += t.size;
  }
  assert.equal(floats, 1_928_256, 'parameter count of the 2d hippocampus Generic_UNet (our architecture agrees: test/model)');
  assert.ok(Array.from(sd.get('conv_blocks_context.0.blocks.0.instnorm.weight')!.data as Float32Array).every(Number.isFinite));
});

test('a truncated or corrupt checkpoint is refused naming the file', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nnunet-ts-ckpt-'));
  try {
    const full = fs.readFileSync(CKPT);
    const cut = path.join(dir, 'model_final_checkpoint.model');
    fs.writeFileSync(cut, full.subarray(0, Math.floor(full.length / 2)));
    assert.throws(() => readTorchCheckpoint(cut), (e: Error) => e.message.startsWith(`${cut}: corrupt or truncated zip archive`));
    const junk = path.join(dir, 'junk.model');
    fs.writeFileSync(junk, 'not a checkpoint');
    assert.throws(() => readTorchCheckpoint(junk), new RegExp(`${junk.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: not a PyTorch checkpoint`));
    assert.throws(() => readTorchCheckpoint(path.join(dir, 'absent.model')), /absent\.model: cannot read/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('legacy (non-zip) torch.save stream', () => {
  // magic, protocol 1001, sys_info, {'w': tensor view}, ['0'], then int64 numel + float32 data
  const magic = ops('\x80\x02\x8a\x0a', [0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19], '.');
  const proto = ops('\x80\x02M\xe9\x03.');
  const sys = ops('\x80\x02}', str('little_endian'), '\x88s.');
  const keys = ops('\x80\x02]', str('0'), 'a.');
  const n = ops([6, 0, 0, 0, 0, 0, 0, 0]);
  const c = parseTorchCheckpoint(ops(magic, proto, sys, dataPkl(), keys, n, storageBytes([0, 1, 2, 3, 4, 5])), 'old.pt');
  assert.equal(c.format, 'legacy');
  assert.deepEqual(Array.from((c.value as { w: TorchTensor }).w.data as Float32Array), [1, 4, 2, 5]);
  assert.throws(() => parseTorchCheckpoint(ops(magic, proto, sys, dataPkl(), keys, n, storageBytes([0, 1])), 'old.pt'), /old\.pt: truncated/);
});
