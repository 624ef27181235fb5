/**
 * NPY v1.0/v2.0 reader and writer (numpy's `.npy`), so preprocessed data opens with `np.load` and the official
 * fixtures open here. Little-endian, C order only (what nnU-Net and numpy write by default).
 */
import * as fs from 'fs';
import { writeFileAtomicSync, writeFileAtomic } from './atomic';
import type { VoxelArray } from './volume';

export type NpyDtype = '|u1' | '|i1' | '<i2' | '<u2' | '<i4' | '<u4' | '<f4' | '<f8' | '<i8' | '<f2' | '|b1';

export interface NpyArray<T extends VoxelArray = VoxelArray> {
  data: T;
  shape: number[];
  /** numpy descr as written in the header, e.g. '<f4' */
  dtype: string;
}

const MAGIC = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]);

function dtypeOf(data: VoxelArray): NpyDtype {
  if (data instanceof Uint8Array) return '|u1';
  if (data instanceof Int8Array) return '|i1';
  if (data instanceof Int16Array) return '<i2';
  if (data instanceof Uint16Array) return '<u2';
  if (data instanceof Int32Array) return '<i4';
  if (data instanceof Uint32Array) return '<u4';
  if (data instanceof Float32Array) return '<f4';
  if (data instanceof Float64Array) return '<f8';
  throw new Error('npy: unsupported typed array');
}

/** IEEE half -> float (float16 fixtures, e.g. nnU-Net v2's Gaussian map). */
function halfToFloat(h: number): number {
  const s = (h & 0x8000) >> 15;
  const e = (h & 0x7c00) >> 10;
  const f = h & 0x03ff;
  if (e === 0) return (s ? -1 : 1) * Math.pow(2, -14) * (f / 1024);
  if (e === 0x1f) return f ? NaN : (s ? -1 : 1) * Infinity;
  return (s ? -1 : 1) * Math.pow(2, e - 15) * (1 + f / 1024);
}

export function parseNpy(buf: Uint8Array, name = '<buffer>'): NpyArray {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  if (b.length < 10 || !b.subarray(0, 6).equals(MAGIC)) throw new Error(`${name}: not a .npy file (bad magic)`);
  const major = b[6];
  let headerLen: number;
  let offset: number;
  if (major === 1) {
    headerLen = b.readUInt16LE(8);
    offset = 10;
  } else if (major === 2 || major === 3) {
    headerLen = b.readUInt32LE(8);
    offset = 12;
  } else throw new Error(`${name}: unsupported .npy version ${major}`);
  const header = b.subarray(offset, offset + headerLen).toString('latin1');
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)?.[1];
  const shapeStr = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (!descr || !fortran || shapeStr === undefined) throw new Error(`${name}: malformed .npy header: ${header}`);
  if (fortran === 'True') throw new Error(`${name}: Fortran-order .npy is not supported`);
  const shape = shapeStr
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map((s) => parseInt(s, 10));
  const n = shape.reduce((a, c) => a * c, 1);
  const start = offset + headerLen;
  const bytes = b.subarray(start);
  // copy into an aligned buffer
  const copy = (bytesPer: number) => {
    if (bytes.length < n * bytesPer) throw new Error(`${name}: truncated .npy (need ${n * bytesPer} bytes, have ${bytes.length})`);
    const ab = new ArrayBuffer(n * bytesPer);
    new Uint8Array(ab).set(bytes.subarray(0, n * bytesPer));
    return ab;
  };
  let data: VoxelArray;
  switch (descr) {
    case '|u1':
    case '<u1':
    case '|b1':
      data = new Uint8Array(copy(1));
      break;
    case '|i1':
    case '<i1':
      data = new Int8Array(copy(1));
      break;
    case '<i2':
      data = new Int16Array(copy(2));
      break;
    case '<u2':
      data = new Uint16Array(copy(2));
      break;
    case '<i4':
      data = new Int32Array(copy(4));
      break;
    case '<u4':
      data = new Uint32Array(copy(4));
      break;
    case '<f4':
      data = new Float32Array(copy(4));
      break;
    case '<f8':
      data = new Float64Array(copy(8));
      break;
    case '<i8': {
      const big = new BigInt64Array(copy(8));
      const out = new Float64Array(n);
      for (let i = 0; i < n; i++) out[i] = Number(big[i]);
      data = out;
      break;
    }
    case '<f2': {
      const h = new Uint16Array(copy(2));
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = halfToFloat(h[i]);
      data = out;
      break;
    }
    default:
      throw new Error(`${name}: unsupported .npy dtype ${descr}`);
  }
  return { data, shape, dtype: descr };
}

export function readNpy(file: string): NpyArray {
  let buf: Buffer;
  try {
    buf = fs.readFileSync(file);
  } catch (e) {
    throw new Error(`${file}: cannot read: ${(e as Error).message}`);
  }
  return parseNpy(buf, file);
}

export function encodeNpy(data: VoxelArray, shape: readonly number[]): Uint8Array {
  const n = shape.reduce((a, c) => a * c, 1);
  if (n !== data.length) throw new Error(`npy: shape ${shape.join('x')} does not match ${data.length} elements`);
  const shapeStr = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '${dtypeOf(data)}', 'fortran_order': False, 'shape': ${shapeStr}, }`;
  // pad so that magic(6)+ver(2)+len(2)+header is a multiple of 64, ending in '\n' (numpy's layout)
  const total = 10 + header.length + 1;
  header = header + ' '.repeat((64 - (total % 64)) % 64) + '\n';
  const out = new Uint8Array(10 + header.length + data.byteLength);
  out.set(MAGIC, 0);
  out[6] = 1;
  out[7] = 0;
  out[8] = header.length & 0xff;
  out[9] = (header.length >> 8) & 0xff;
  out.set(Buffer.from(header, 'latin1'), 10);
  out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), 10 + header.length);
  return out;
}

/** Write atomically (temp + rename). */
export function writeNpySync(file: string, data: VoxelArray, shape: readonly number[]): void {
  writeFileAtomicSync(file, encodeNpy(data, shape));
}

export async function writeNpy(file: string, data: VoxelArray, shape: readonly number[]): Promise<void> {
  await writeFileAtomic(file, encodeNpy(data, shape));
}
