/**
 * PyTorch checkpoints (`torch.save`) read without Python: the zip format of torch >= 1.6
 *
 *   <archive>/data.pkl        the pickled object; tensors are persistent ids ('storage', <torch.FloatStorage>, key, location, numel)
 *   <archive>/data/<key>      raw storage bytes
 *   <archive>/byteorder       'little' / 'big' (absent in older files: little)
 *   <archive>/version         format version
 *
 * and the legacy (non-zip) stream of torch < 1.6 / `_use_new_zipfile_serialization=False`: magic number, protocol
 * version, sys_info, the object, the list of storage keys, then per storage an int64 element count and its bytes.
 * The pickles go through sdk/io/pickle.ts (allow-list, nothing executed). Tensors come back as `TorchTensor`
 * ({dtype, shape, strides, storageOffset, data}: `data` a contiguous C-order copy).
 */
import * as fs from 'fs';
import { unzipSync } from 'fflate';
import {
  decodeTorchStorage,
  gatherStrided,
  PickleError,
  readPickleAt,
  TORCH_ITEMSIZE,
  TorchStorage,
  TorchStorageType,
  TorchTensor,
  type TypedArray,
} from './pickle';

export { TorchTensor };

export class TorchCheckpointError extends Error {}

export interface TorchCheckpoint {
  /** the unpickled object (for nnU-Net: { epoch, state_dict, optimizer_state_dict, ... }) */
  value: unknown;
  format: 'zip' | 'legacy';
  /** zip: the archive's top folder name */
  archive?: string;
  byteorder: 'little' | 'big';
}

const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;

function parsePid(pid: unknown, file: string): { type: TorchStorageType; key: string; numel: number } {
  if (!Array.isArray(pid) || pid[0] !== 'storage') {
    throw new TorchCheckpointError(`${file}: unsupported persistent id ${JSON.stringify(pid)} (only 'storage' ids are read)`);
  }
  const [, type, key, , numel] = pid as [string, unknown, unknown, unknown, unknown];
  if (!(type instanceof TorchStorageType)) throw new TorchCheckpointError(`${file}: storage id ${String(key)} has no storage type`);
  return { type, key: String(key), numel: Number(numel) };
}

/** Read a torch.save file (zip or legacy format). Errors name the file (and the entry). */
export function readTorchCheckpoint(file: string): TorchCheckpoint {
  let buf: Buffer;
  try {
    buf = fs.readFileSync(file);
  } catch (e) {
    throw new TorchCheckpointError(`${file}: cannot read: ${(e as Error).message}`);
  }
  return parseTorchCheckpoint(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength), file);
}

/** Parse torch.save bytes; `file` is used in error messages. */
export function parseTorchCheckpoint(bytes: Uint8Array, file = '<torch checkpoint>'): TorchCheckpoint {
  if (bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04) return parseZip(bytes, file);
  if (bytes.length >= 2 && bytes[0] === 0x80) return parseLegacy(bytes, file);
  if (bytes.length >= 262 && String.fromCharCode(...bytes.subarray(257, 262)) === 'ustar') {
    throw new TorchCheckpointError(`${file}: the tar checkpoint format of torch < 0.4 is not supported`);
  }
  throw new TorchCheckpointError(`${file}: not a PyTorch checkpoint (neither a zip archive nor a pickle stream)`);
}

function parseZip(bytes: Uint8Array, file: string): TorchCheckpoint {
  let entries: Record<string, Uint8Array>;
  try {
    entries = unzipSync(bytes);
  } catch (e) {
    throw new TorchCheckpointError(`${file}: corrupt or truncated zip archive (${(e as Error).message})`);
  }
  const pkl = Object.keys(entries).filter((n) => /^[^/]+\/data\.pkl$/.test(n) || n === 'data.pkl');
  if (pkl.length !== 1) {
    throw new TorchCheckpointError(`${file}: not a torch.save archive (${pkl.length ? 'several' : 'no'} <archive>/data.pkl entries)`);
  }
  const archive = pkl[0].includes('/') ? pkl[0].slice(0, pkl[0].indexOf('/')) : '';
  const prefix = archive ? `${archive}/` : '';
  const bo = entries[`${prefix}byteorder`];
  const byteorder = bo ? (Buffer.from(bo).toString('latin1').trim() as 'little' | 'big') : 'little';
  if (byteorder !== 'little' && byteorder !== 'big') throw new TorchCheckpointError(`${file}: ${prefix}byteorder says '${byteorder}'`);
  const cache = new Map<string, TorchStorage>();
  const persistentLoad = (pid: unknown): TorchStorage => {
    const { type, key, numel } = parsePid(pid, file);
    const name = `${prefix}data/${key}`;
    const hit = cache.get(key);
    if (hit) return hit;
    const raw = entries[name];
    if (!raw) throw new TorchCheckpointError(`${file}: storage ${name} is missing from the archive`);
    const size = TORCH_ITEMSIZE[type.dtype];
    const n = Number.isFinite(numel) && numel >= 0 ? numel : Math.floor(raw.byteLength / size);
    if (raw.byteLength < n * size) {
      throw new TorchCheckpointError(`${file}: storage ${name} has ${raw.byteLength} bytes, ${n} ${type.dtype} elements need ${n * size}`);
    }
    const s: TorchStorage = { dtype: type.dtype, data: decodeTorchStorage(raw, type.dtype, n, byteorder === 'little', `${file}: ${name}`), name };
    cache.set(key, s);
    return s;
  };
  let value: unknown;
  try {
    value = readPickleAt(entries[pkl[0]], 0, { file: `${file}: ${pkl[0]}`, persistentLoad }).value;
  } catch (e) {
    if (e instanceof PickleError || e instanceof TorchCheckpointError) throw e;
    throw new TorchCheckpointError(`${file}: ${pkl[0]}: ${(e as Error).message}`);
  }
  return { value, format: 'zip', archive, byteorder };
}

function parseLegacy(bytes: Uint8Array, file: string): TorchCheckpoint {
  const where = `${file} (legacy torch.save stream)`;
  let pos = 0;
  const next = (opts: Parameters<typeof readPickleAt>[2] = {}) => {
    const r = readPickleAt(bytes, pos, { file: where, ...opts });
    pos = r.end;
    return r.value;
  };
  const magic = next();
  if (BigInt(magic as number | bigint) !== LEGACY_MAGIC) throw new TorchCheckpointError(`${file}: a pickle, but not a torch.save file (no torch magic number)`);
  const protocol = next();
  if (protocol !== 1001) throw new TorchCheckpointError(`${file}: unsupported legacy torch protocol ${String(protocol)}`);
  const sysInfo = next() as { little_endian?: boolean };
  const little = sysInfo?.little_endian !== false;
  // the object refers to storages that are only stored after it: collect ids, fill the data afterwards
  const pending = new Map<string, { type: TorchStorageType; numel: number; storage: TorchStorage }>();
  const value = next({
    persistentLoad: (pid) => {
      const { type, key, numel } = parsePid(pid, file);
      if (Array.isArray(pid) && pid[5] !== null && pid[5] !== undefined) {
        throw new TorchCheckpointError(`${file}: legacy storage views (storage ${key}) are not supported`);
      }
      let p = pending.get(key);
      if (!p) {
        p = { type, numel, storage: { dtype: type.dtype, data: new Float32Array(0) as TypedArray, name: `storage ${key}` } };
        pending.set(key, p);
      }
      return p.storage;
    },
    // tensors are rebuilt after the storages are read (below)
    globals: { 'torch._utils._rebuild_tensor_v2': { call: (args) => ({ __deferredTensor: args }) } },
  });
  const keys = next() as unknown[];
  if (!Array.isArray(keys)) throw new TorchCheckpointError(`${where}: storage key list is missing`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (const k of keys) {
    const p = pending.get(String(k));
    if (pos + 8 > bytes.length) throw new TorchCheckpointError(`${file}: truncated (storage ${String(k)} is missing)`);
    const numel = Number(dv.getBigInt64(pos, little));
    pos += 8;
    const size = p ? TORCH_ITEMSIZE[p.type.dtype] : 1;
    if (pos + numel * size > bytes.length) throw new TorchCheckpointError(`${file}: truncated (storage ${String(k)} needs ${numel * size} bytes)`);
    if (p) p.storage.data = decodeTorchStorage(bytes.subarray(pos, pos + numel * size), p.type.dtype, numel, little, `${file}: storage ${String(k)}`);
    pos += numel * size;
  }
  // now rebuild the deferred tensors in place
  const rebuild = (x: unknown, seen: Set<unknown>): unknown => {
    if (!x || typeof x !== 'object' || seen.has(x)) return x;
    seen.add(x);
    const d = (x as { __deferredTensor?: unknown[] }).__deferredTensor;
    if (d) {
      const [storage, offset, size, stride, requiresGrad] = d as [TorchStorage, number, number[], number[], boolean];
      return tensorFromStorage(storage, Number(offset), size.map(Number), stride.map(Number), Boolean(requiresGrad), file);
    }
    if (Array.isArray(x)) for (let i = 0; i < x.length; i++) x[i] = rebuild(x[i], seen);
    else if (Object.getPrototypeOf(x) === Object.prototype) for (const k of Object.keys(x)) (x as Record<string, unknown>)[k] = rebuild((x as Record<string, unknown>)[k], seen);
    return x;
  };
  return { value: rebuild(value, new Set()), format: 'legacy', byteorder: little ? 'little' : 'big' };
}

function tensorFromStorage(s: TorchStorage, offset: number, shape: number[], strides: number[], requiresGrad: boolean, file: string): TorchTensor {
  return new TorchTensor(s.dtype, shape, strides, offset, gatherStrided(s.data, shape, strides, offset, `${file}: ${s.name}`), requiresGrad);
}

/** Tensors of a state_dict-like object by name (non-tensor entries are skipped). */
export function tensorsOf(stateDict: unknown, where: string): Map<string, TorchTensor> {
  if (!stateDict || typeof stateDict !== 'object' || Array.isArray(stateDict)) throw new TorchCheckpointError(`${where}: state_dict is not a dict`);
  const out = new Map<string, TorchTensor>();
  for (const [k, v] of Object.entries(stateDict)) if (v instanceof TorchTensor) out.set(k, v);
  return out;
}
