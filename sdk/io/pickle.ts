/**
 * A Python pickle reader (protocols 0-5, as written by torch.save, numpy and nnU-Net's save_pickle) that never
 * executes anything. Pickle's GLOBAL / STACK_GLOBAL opcodes name a Python callable and REDUCE calls it; here every
 * global is looked up in an allow-list of pure-data rebuilders written in TypeScript (OrderedDict, numpy arrays,
 * dtypes and scalars, torch tensors and storage types, set/frozenset/slice, `_codecs.encode` to latin-1, the way
 * protocol 2 writes bytes). Any other global (`posix.system`, `builtins.eval`, ...) is refused with an error naming
 * the file and the global, before anything is called. Persistent ids (torch storages) go through a callback.
 *
 * Why our own reader: the npm pickle parsers we know of either evaluate globals by name through a user-supplied
 * class registry that silently turns unknown globals into placeholder objects (no refusal), or target Python 2
 * protocols only; a reader whose only extension point is an explicit allow-list is small (one file) and auditable.
 *
 * Python values become:
 *   None -> null; bool -> boolean; int -> number (bigint beyond 2^53); float -> number; str -> string;
 *   bytes/bytearray -> Uint8Array; tuple and list -> Array; dict/OrderedDict -> plain object (keys as strings: int 0
 *   -> '0'; tuple keys -> '(a, b)'); set/frozenset -> Set; numpy.ndarray -> NDArray (C order typed array);
 *   numpy.dtype -> NumpyDtype; numpy scalar -> number / bigint / boolean; torch tensor -> TorchTensor (contiguous
 *   copy); slice -> PySlice.
 *
 * One file because the opcode interpreter and the allow-list are what a security review reads, together.
 */
import * as fs from 'fs';

export type TypedArray =
  | Float32Array
  | Float64Array
  | Int8Array
  | Uint8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | BigInt64Array
  | BigUint64Array;

export class PickleError extends Error {}

/** A numpy dtype (kind + item size + byte order), e.g. `<f4`, `|u1`, `<i8`. */
export class NumpyDtype {
  constructor(
    /** numpy's type string without byte order: 'f8', 'f4', 'f2', 'i8', ..., 'u1', 'b1', 'O8' */
    readonly type: string,
    public byteorder: '<' | '>' | '|' | '=' = '=',
  ) {}
  get itemsize(): number {
    return Number(this.type.slice(1)) || 0;
  }
  /** '<f4' etc. ('=' is little-endian on every machine torch/numpy files come from in practice; `|` for 1 byte) */
  get str(): string {
    const bo = this.itemsize === 1 || this.type[0] === 'O' ? '|' : this.byteorder === '>' ? '>' : '<';
    return bo + this.type;
  }
  toString(): string {
    return `dtype('${this.str}')`;
  }
}

/** A numpy array, C order. `data` is a typed array (object arrays: a plain array). */
export class NDArray {
  constructor(
    readonly dtype: string,
    readonly shape: number[],
    readonly data: TypedArray | unknown[],
  ) {}
  get size(): number {
    return this.shape.reduce((a, b) => a * b, 1);
  }
  /** Nested JS arrays (numbers / bigints / booleans for 'b1'), like ndarray.tolist(). */
  tolist(): unknown {
    const d = this.data;
    const bool = this.dtype.endsWith('b1');
    const rec = (axis: number, off: number): unknown => {
      if (axis === this.shape.length) return bool ? Boolean((d as TypedArray)[off]) : (d as ArrayLike<unknown>)[off];
      const stride = this.shape.slice(axis + 1).reduce((a, b) => a * b, 1);
      const out: unknown[] = [];
      for (let i = 0; i < this.shape[axis]; i++) out.push(rec(axis + 1, off + i * stride));
      return out;
    };
    return rec(0, 0);
  }
}

export type TorchDtype = 'float64' | 'float32' | 'float16' | 'bfloat16' | 'int64' | 'int32' | 'int16' | 'int8' | 'uint8' | 'bool';

/** What a torch storage class global (torch.FloatStorage, ...) stands for in a persistent id. */
export class TorchStorageType {
  constructor(
    readonly name: string,
    readonly dtype: TorchDtype,
  ) {}
}

/** A storage as the persistent-id callback returns it: elements of `dtype` decoded into `data`. */
export interface TorchStorage {
  dtype: TorchDtype;
  /** float16/bfloat16 are decoded to Float32Array; int64 to Float64Array when every value is exact, else BigInt64Array */
  data: TypedArray;
  /** where it came from, for error messages (e.g. `archive/data/12`) */
  name?: string;
}

/**
 * A tensor rebuilt by torch._utils._rebuild_tensor_v2: `data` is a contiguous C-order copy of the view; `strides` and
 * `storageOffset` are the view's as stored (in elements of the storage).
 */
export class TorchTensor {
  constructor(
    readonly dtype: TorchDtype,
    readonly shape: number[],
    readonly strides: number[],
    readonly storageOffset: number,
    readonly data: TypedArray,
    readonly requiresGrad = false,
  ) {}
  get size(): number {
    return this.shape.reduce((a, b) => a * b, 1);
  }
}

export class PySlice {
  constructor(
    readonly start: unknown,
    readonly stop: unknown,
    readonly step: unknown,
  ) {}
}

/** An allowed global. `call`: what REDUCE / NEWOBJ with this callable produce; absent: the global is only a value. */
export interface AllowedGlobal {
  value?: unknown;
  call?: (args: unknown[], ctx: { file: string; global: string }) => unknown;
}

export interface PickleOptions {
  /** Shown in every error (a file path, or e.g. `archive.zip:archive/data.pkl`). */
  file?: string;
  /** Resolves persistent ids (torch.save: `['storage', TorchStorageType, key, location, numel, ...]`). */
  persistentLoad?: (pid: unknown) => unknown;
  /** Extra allowed globals by `module.name` (added to the built-in allow-list). */
  globals?: Record<string, AllowedGlobal>;
}

const MARK = Symbol('mark');

/** Instance attributes BUILD set on dicts (Python `obj.__dict__`), e.g. a state_dict's `_metadata`. */
const ATTRIBUTES = new WeakMap<object, Record<string, unknown>>();

/** Attributes a pickle set on a dict object with BUILD (e.g. `_metadata` of a torch state_dict), or undefined. */
export function pyAttributes(obj: object): Record<string, unknown> | undefined {
  return ATTRIBUTES.get(obj);
}

/** Placeholder that numpy's _reconstruct returns until BUILD supplies the array's state. */
class PendingArray {
  built: NDArray | null = null;
}

// ----------------------------------------------------------------------------------------------- dtype helpers

const TORCH_STORAGES: Record<string, TorchDtype> = {
  DoubleStorage: 'float64',
  FloatStorage: 'float32',
  HalfStorage: 'float16',
  BFloat16Storage: 'bfloat16',
  LongStorage: 'int64',
  IntStorage: 'int32',
  ShortStorage: 'int16',
  CharStorage: 'int8',
  ByteStorage: 'uint8',
  BoolStorage: 'bool',
};

export const TORCH_ITEMSIZE: Record<TorchDtype, number> = {
  float64: 8,
  float32: 4,
  float16: 2,
  bfloat16: 2,
  int64: 8,
  int32: 4,
  int16: 2,
  int8: 1,
  uint8: 1,
  bool: 1,
};

/** IEEE half -> number. */
export function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

/** int64/uint64 values -> Float64Array when all are exactly representable, else the BigInt array itself. */
function int64Array(big: BigInt64Array | BigUint64Array): Float64Array | BigInt64Array | BigUint64Array {
  const out = new Float64Array(big.length);
  for (let i = 0; i < big.length; i++) {
    const v = big[i];
    if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < -BigInt(Number.MAX_SAFE_INTEGER)) return big;
    out[i] = Number(v);
  }
  return out;
}

/**
 * Decode `count` elements of a numpy type ('f4', 'i8', 'b1', ...) from bytes. `little`: byte order. float16 becomes
 * Float32Array; int64/uint64 Float64Array when exact (else BigInt64Array/BigUint64Array); bool Uint8Array.
 */
export function decodeElements(bytes: Uint8Array, type: string, count: number, little: boolean, where: string): TypedArray {
  const size = Number(type.slice(1));
  if (bytes.byteLength < count * size) {
    throw new PickleError(`${where}: ${count} elements of ${type} need ${count * size} bytes, got ${bytes.byteLength}`);
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, count * size);
  switch (type) {
    case 'f8': {
      const o = new Float64Array(count);
      for (let i = 0; i < count; i++) o[i] = dv.getFloat64(8 * i, little);
      return o;
    }
    case 'f4': {
      const o = new Float32Array(count);
      for (let i = 0; i < count; i++) o[i] = dv.getFloat32(4 * i, little);
      return o;
    }
    case 'f2': {
      const o = new Float32Array(count);
      for (let i = 0; i < count; i++) o[i] = halfToFloat(dv.getUint16(2 * i, little));
      return o;
    }
    case 'bf2': {
      // bfloat16: the high half of a float32
      const o = new Float32Array(count);
      const t = new DataView(new ArrayBuffer(4));
      for (let i = 0; i < count; i++) {
        t.setUint16(0, dv.getUint16(2 * i, little), false);
        t.setUint16(2, 0, false);
        o[i] = t.getFloat32(0, false);
      }
      return o;
    }
    case 'i8': {
      const o = new BigInt64Array(count);
      for (let i = 0; i < count; i++) o[i] = dv.getBigInt64(8 * i, little);
      return int64Array(o);
    }
    case 'u8': {
      const o = new BigUint64Array(count);
      for (let i = 0; i < count; i++) o[i] = dv.getBigUint64(8 * i, little);
      return int64Array(o);
    }
    case 'i4': {
      const o = new Int32Array(count);
      for (let i = 0; i < count; i++) o[i] = dv.getInt32(4 * i, little);
      return o;
    }
    case 'u4': {
      const o = new Uint32Array(count);
      for (let i = 0; i < count; i++) o[i] = dv.getUint32(4 * i, little);
      return o;
    }
    case 'i2': {
      const o = new Int16Array(count);
      for (let i = 0; i < count; i++) o[i] = dv.getInt16(2 * i, little);
      return o;
    }
    case 'u2': {
      const o = new Uint16Array(count);
      for (let i = 0; i < count; i++) o[i] = dv.getUint16(2 * i, little);
      return o;
    }
    case 'i1':
      return new Int8Array(bytes.slice(0, count).buffer);
    case 'u1':
    case 'b1':
      return bytes.slice(0, count);
    default:
      throw new PickleError(`${where}: unsupported element type '${type}'`);
  }
}

const TORCH_TO_NP: Record<TorchDtype, string> = {
  float64: 'f8',
  float32: 'f4',
  float16: 'f2',
  bfloat16: 'bf2',
  int64: 'i8',
  int32: 'i4',
  int16: 'i2',
  int8: 'i1',
  uint8: 'u1',
  bool: 'b1',
};

/** Decode a torch storage's raw bytes (`numel` elements of `dtype`). */
export function decodeTorchStorage(bytes: Uint8Array, dtype: TorchDtype, numel: number, little: boolean, where: string): TypedArray {
  return decodeElements(bytes, TORCH_TO_NP[dtype], numel, little, where);
}

function newLike(a: TypedArray, n: number): TypedArray {
  return new (a.constructor as new (n: number) => TypedArray)(n);
}

/** Contiguous C-order copy of a strided view. */
export function gatherStrided(src: TypedArray, shape: readonly number[], strides: readonly number[], offset: number, where: string): TypedArray {
  if (shape.some((s) => !Number.isInteger(s) || s < 0) || strides.some((s) => !Number.isInteger(s) || s < 0) || !Number.isInteger(offset)) {
    throw new PickleError(`${where}: invalid tensor view [${shape}] (strides [${strides}], offset ${offset})`);
  }
  const n = shape.reduce((a, b) => a * b, 1);
  let maxIndex = offset;
  for (let d = 0; d < shape.length; d++) if (shape[d] > 0) maxIndex += (shape[d] - 1) * strides[d];
  if (n > 0 && (maxIndex >= src.length || offset < 0)) {
    throw new PickleError(`${where}: tensor view [${shape}] (strides [${strides}], offset ${offset}) reaches element ${maxIndex}, storage has ${src.length}`);
  }
  const out = newLike(src, n);
  if (n === 0) return out;
  let contiguous = true;
  for (let d = shape.length - 1, s = 1; d >= 0; d--) {
    if (shape[d] !== 1 && strides[d] !== s) contiguous = false;
    s *= shape[d];
  }
  if (contiguous) {
    (out as Float32Array).set((src as Float32Array).subarray(offset, offset + n));
    return out;
  }
  const idx = new Array(shape.length).fill(0);
  let p = offset;
  for (let i = 0; i < n; i++) {
    (out as Float32Array)[i] = (src as Float32Array)[p];
    for (let d = shape.length - 1; d >= 0; d--) {
      idx[d]++;
      p += strides[d];
      if (idx[d] < shape[d]) break;
      p -= idx[d] * strides[d];
      idx[d] = 0;
    }
  }
  return out;
}

// ----------------------------------------------------------------------------------------------- allow-list

function num(v: unknown): number {
  if (typeof v === 'bigint') return Number(v);
  if (typeof v === 'boolean') return v ? 1 : 0;
  return v as number;
}

function asIntList(v: unknown, what: string, ctx: { file: string; global: string }): number[] {
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'number' && typeof x !== 'bigint')) {
    throw new PickleError(`${ctx.file}: ${ctx.global}: ${what} must be a tuple of ints`);
  }
  return v.map(num);
}

function newDict(): Record<string, unknown> {
  return {};
}

function numpyScalar(args: unknown[], ctx: { file: string; global: string }): unknown {
  const [dt, raw] = args;
  if (!(dt instanceof NumpyDtype)) throw new PickleError(`${ctx.file}: ${ctx.global}: first argument is not a numpy dtype`);
  if (dt.type[0] === 'O') return raw;
  if (!(raw instanceof Uint8Array)) throw new PickleError(`${ctx.file}: ${ctx.global}: second argument is not bytes`);
  const v = decodeElements(raw, dt.type, 1, dt.byteorder !== '>', `${ctx.file}: ${ctx.global}(${dt.str})`)[0];
  if (dt.type === 'b1') return Boolean(v);
  return v;
}

function numpyDtype(args: unknown[], ctx: { file: string; global: string }): NumpyDtype {
  const spec = args[0];
  if (typeof spec !== 'string') throw new PickleError(`${ctx.file}: ${ctx.global}: dtype spec must be a string, got ${typeof spec}`);
  const m = /^([<>|=]?)([fiuOb?])(\d*)$/.exec(spec);
  if (!m) throw new PickleError(`${ctx.file}: ${ctx.global}: unsupported dtype '${spec}' (numbers, bool and object only)`);
  let kind = m[2];
  let size = m[3];
  if (kind === '?') {
    kind = 'b';
    size = '1';
  }
  if (kind === 'O') size = '8';
  if (!size) throw new PickleError(`${ctx.file}: ${ctx.global}: dtype '${spec}' has no item size`);
  return new NumpyDtype(`${kind}${size}`, (m[1] || '=') as NumpyDtype['byteorder']);
}

function rebuildTensor(args: unknown[], ctx: { file: string; global: string }): TorchTensor {
  const [storage, offset, size, stride, requiresGrad] = args;
  const s = storage as TorchStorage;
  if (!s || typeof s !== 'object' || !('data' in s) || !('dtype' in s)) {
    throw new PickleError(`${ctx.file}: ${ctx.global}: first argument is not a storage (no persistent-id loader?)`);
  }
  const shape = asIntList(size, 'size', ctx);
  const strides = asIntList(stride, 'stride', ctx);
  if (shape.length !== strides.length) throw new PickleError(`${ctx.file}: ${ctx.global}: size [${shape}] and stride [${strides}] differ in rank`);
  const off = num(offset);
  const data = gatherStrided(s.data, shape, strides, off, `${ctx.file}: ${s.name ?? 'storage'}`);
  return new TorchTensor(s.dtype, shape, strides, off, data, Boolean(requiresGrad));
}

const BUILTIN_GLOBALS: Record<string, AllowedGlobal> = {
  'collections.OrderedDict': {
    call: (args) => {
      const d = newDict();
      if (args.length && Array.isArray(args[0])) for (const kv of args[0] as unknown[][]) setKey(d, kv[0], kv[1]);
      return d;
    },
  },
  'numpy.ndarray': { value: 'numpy.ndarray' },
  'numpy.dtype': { call: numpyDtype },
  'numpy.core.multiarray._reconstruct': { call: () => new PendingArray() },
  'numpy._core.multiarray._reconstruct': { call: () => new PendingArray() },
  'numpy.core.multiarray.scalar': { call: numpyScalar },
  'numpy._core.multiarray.scalar': { call: numpyScalar },
  'torch._utils._rebuild_tensor_v2': { call: rebuildTensor },
  'torch._utils._rebuild_parameter': { call: (args) => args[0] },
  // nnU-Net v2 checkpoints pickle the trainer's device in init_args: torch.device('cuda') / ('cuda', 0) -> 'cuda' / 'cuda:0'
  'torch.device': {
    call: (args, ctx) => {
      if (typeof args[0] !== 'string' || (args.length > 1 && args[1] !== null && typeof args[1] !== 'number' && typeof args[1] !== 'bigint')) {
        throw new PickleError(`${ctx.file}: ${ctx.global} is allowed only as device(str[, int])`);
      }
      return args.length > 1 && args[1] !== null ? `${args[0]}:${Number(args[1])}` : args[0];
    },
  },
  // protocol 2 has no bytes opcode: bytes are pickled as _codecs.encode(<latin-1 str>, 'latin1')
  '_codecs.encode': {
    call: (args, ctx) => {
      const [s, enc] = args;
      if (typeof s !== 'string' || (enc !== 'latin1' && enc !== 'latin-1' && enc !== 'iso-8859-1')) {
        throw new PickleError(`${ctx.file}: ${ctx.global} is allowed only as encode(str, 'latin1'), got encoding ${JSON.stringify(enc)}`);
      }
      return latin1Bytes(s);
    },
  },
  'builtins.set': { call: (args) => new Set(args.length ? (args[0] as Iterable<unknown>) : []) },
  'builtins.frozenset': { call: (args) => new Set(args.length ? (args[0] as Iterable<unknown>) : []) },
  'builtins.slice': { call: (args) => (args.length === 1 ? new PySlice(null, args[0], null) : new PySlice(args[0], args[1], args[2] ?? null)) },
  '__builtin__.set': { call: (args) => new Set(args.length ? (args[0] as Iterable<unknown>) : []) },
};
for (const [name, dtype] of Object.entries(TORCH_STORAGES)) BUILTIN_GLOBALS[`torch.${name}`] = { value: new TorchStorageType(name, dtype) };

/** The built-in allow-list (module.name). */
export const ALLOWED_GLOBALS: readonly string[] = Object.keys(BUILTIN_GLOBALS);

function latin1Bytes(s: string): Uint8Array {
  const b = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) b[i] = s.charCodeAt(i) & 0xff;
  return b;
}

function keyString(k: unknown): string {
  if (typeof k === 'string') return k;
  if (k === null) return 'None';
  if (typeof k === 'boolean') return k ? 'True' : 'False';
  if (Array.isArray(k)) return `(${k.map(keyString).join(', ')}${k.length === 1 ? ',' : ''})`;
  return String(k);
}

function setKey(d: Record<string, unknown>, k: unknown, v: unknown): void {
  const key = keyString(k);
  // never let a key reach the prototype
  if (key === '__proto__') Object.defineProperty(d, key, { value: v, enumerable: true, writable: true, configurable: true });
  else d[key] = v;
}

/** A global resolved from the allow-list (the value REDUCE / BUILD see). */
class GlobalRef {
  constructor(
    readonly name: string,
    readonly entry: AllowedGlobal,
  ) {}
}

// ----------------------------------------------------------------------------------------------- the machine

const OPNAMES: Record<number, string> = {
  0x28: 'MARK', 0x2e: 'STOP', 0x30: 'POP', 0x31: 'POP_MARK', 0x32: 'DUP', 0x46: 'FLOAT', 0x49: 'INT', 0x4a: 'BININT',
  0x4b: 'BININT1', 0x4c: 'LONG', 0x4d: 'BININT2', 0x4e: 'NONE', 0x50: 'PERSID', 0x51: 'BINPERSID', 0x52: 'REDUCE',
  0x53: 'STRING', 0x54: 'BINSTRING', 0x55: 'SHORT_BINSTRING', 0x56: 'UNICODE', 0x58: 'BINUNICODE', 0x61: 'APPEND',
  0x62: 'BUILD', 0x63: 'GLOBAL', 0x64: 'DICT', 0x7d: 'EMPTY_DICT', 0x65: 'APPENDS', 0x67: 'GET', 0x68: 'BINGET',
  0x69: 'INST', 0x6a: 'LONG_BINGET', 0x6c: 'LIST', 0x5d: 'EMPTY_LIST', 0x6f: 'OBJ', 0x70: 'PUT', 0x71: 'BINPUT',
  0x72: 'LONG_BINPUT', 0x73: 'SETITEM', 0x74: 'TUPLE', 0x29: 'EMPTY_TUPLE', 0x75: 'SETITEMS', 0x47: 'BINFLOAT',
  0x80: 'PROTO', 0x81: 'NEWOBJ', 0x82: 'EXT1', 0x83: 'EXT2', 0x84: 'EXT4', 0x85: 'TUPLE1', 0x86: 'TUPLE2', 0x87: 'TUPLE3',
  0x88: 'NEWTRUE', 0x89: 'NEWFALSE', 0x8a: 'LONG1', 0x8b: 'LONG4', 0x42: 'BINBYTES', 0x43: 'SHORT_BINBYTES',
  0x8c: 'SHORT_BINUNICODE', 0x8d: 'BINUNICODE8', 0x8e: 'BINBYTES8', 0x8f: 'EMPTY_SET', 0x90: 'ADDITEMS',
  0x91: 'FROZENSET', 0x92: 'NEWOBJ_EX', 0x93: 'STACK_GLOBAL', 0x94: 'MEMOIZE', 0x95: 'FRAME', 0x96: 'BYTEARRAY8',
  0x97: 'NEXT_BUFFER', 0x98: 'READONLY_BUFFER',
};

/** Little-endian two's-complement integer of `bytes` (LONG1/LONG4 payload). */
function decodeLong(b: Uint8Array): number | bigint {
  if (b.length === 0) return 0;
  let v = 0n;
  for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
  if (b[b.length - 1] & 0x80) v -= 1n << BigInt(8 * b.length);
  return smallInt(v);
}

function smallInt(v: bigint): number | bigint {
  return v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= -BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

/** Python string literal (protocol 0 STRING argument, quoted repr) -> bytes as latin-1 string. */
function unquote(s: string, where: string): string {
  const q = s[0];
  if ((q !== "'" && q !== '"') || s[s.length - 1] !== q) throw new PickleError(`${where}: STRING argument is not quoted`);
  return s.slice(1, -1).replace(/\\(x[0-9a-fA-F]{2}|[0-7]{1,3}|.)/g, (_, e: string) => {
    if (e[0] === 'x') return String.fromCharCode(parseInt(e.slice(1), 16));
    if (/^[0-7]/.test(e)) return String.fromCharCode(parseInt(e, 8));
    return ({ n: '\n', r: '\r', t: '\t', '\\': '\\', "'": "'", '"': '"', a: '\x07', b: '\b', f: '\f', v: '\v' } as Record<string, string>)[e] ?? `\\${e}`;
  });
}

/** raw-unicode-escape (protocol 0 UNICODE). */
function rawUnicode(b: Uint8Array): string {
  const s = Buffer.from(b).toString('latin1');
  return s.replace(/\\u([0-9a-fA-F]{4})|\\U([0-9a-fA-F]{8})/g, (_, a?: string, c?: string) => String.fromCodePoint(parseInt((a ?? c)!, 16)));
}

export interface PickleResult {
  value: unknown;
  /** byte offset just after the STOP opcode (the next pickle in a stream starts there) */
  end: number;
}

/**
 * Read one pickle starting at `offset`. Throws PickleError (message starts with the file) for a forbidden global,
 * an unsupported opcode, or truncated/corrupt input.
 */
export function readPickleAt(bytes: Uint8Array, offset: number, opts: PickleOptions = {}): PickleResult {
  const file = opts.file ?? '<pickle>';
  const globals: Record<string, AllowedGlobal> = { ...BUILTIN_GLOBALS, ...(opts.globals ?? {}) };
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  let pos = offset;
  let stack: unknown[] = [];
  const metastack: unknown[][] = [];
  const memo = new Map<number, unknown>();
  let opStart = pos;

  const fail = (msg: string): never => {
    throw new PickleError(`${file}: ${msg} (pickle byte ${opStart})`);
  };
  const need = (n: number) => {
    if (n < 0 || pos + n > bytes.length) fail(`truncated: needs ${n} more byte(s), ${Math.max(0, bytes.length - pos)} left`);
  };
  const u8 = () => {
    need(1);
    return bytes[pos++];
  };
  const u16 = () => {
    need(2);
    const v = dv.getUint16(pos, true);
    pos += 2;
    return v;
  };
  const u32 = () => {
    need(4);
    const v = dv.getUint32(pos, true);
    pos += 4;
    return v;
  };
  const i32 = () => {
    need(4);
    const v = dv.getInt32(pos, true);
    pos += 4;
    return v;
  };
  const u64 = () => {
    need(8);
    const v = dv.getBigUint64(pos, true);
    pos += 8;
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) fail(`length ${v} is too large`);
    return Number(v);
  };
  const take = (n: number) => {
    need(n);
    const b = bytes.subarray(pos, pos + n);
    pos += n;
    return b;
  };
  const line = () => {
    const nl = bytes.indexOf(0x0a, pos);
    if (nl < 0) fail('truncated: unterminated text argument');
    const s = Buffer.from(bytes.subarray(pos, nl)).toString('latin1');
    pos = nl + 1;
    return s;
  };
  const text = (b: Uint8Array) => {
    try {
      return utf8.decode(b);
    } catch {
      return fail('invalid UTF-8 in a string');
    }
  };
  const pop = () => {
    if (stack.length === 0) fail('stack underflow (corrupt pickle)');
    const v = stack.pop();
    if (v === MARK) fail('unexpected MARK on the stack (corrupt pickle)');
    return v;
  };
  const top = () => {
    if (stack.length === 0) fail('stack underflow (corrupt pickle)');
    return stack[stack.length - 1];
  };
  const popMark = () => {
    const items = stack;
    if (metastack.length === 0) fail('no MARK to pop to (corrupt pickle)');
    stack = metastack.pop()!;
    return items;
  };
  const resolveGlobal = (module: string, name: string): GlobalRef => {
    const full = `${module}.${name}`;
    const e = Object.prototype.hasOwnProperty.call(globals, full) ? globals[full] : undefined;
    if (!e) throw new PickleError(`${file}: refusing global '${full}': not in the allow-list of data-only globals (nothing was executed)`);
    return new GlobalRef(full, e);
  };
  const call = (fn: unknown, args: unknown, via: string): unknown => {
    if (!(fn instanceof GlobalRef)) return fail(`${via} of a value that is not an allowed global`);
    if (!fn.entry.call) return fail(`${via}: '${fn.name}' is allowed as a value but not as a callable`);
    if (!Array.isArray(args)) return fail(`${via}: arguments of '${fn.name}' are not a tuple`);
    try {
      return fn.entry.call(args, { file, global: fn.name });
    } catch (e) {
      if (e instanceof PickleError) throw e;
      throw new PickleError(`${file}: ${fn.name}: ${(e as Error).message}`);
    }
  };
  const persistent = (pid: unknown): unknown => {
    if (!opts.persistentLoad) return fail(`persistent id ${JSON.stringify(pid, (_k, v) => (typeof v === 'bigint' ? String(v) : v))} but no persistent-id loader was given`);
    return opts.persistentLoad(pid);
  };
  const setItem = (d: unknown, k: unknown, v: unknown) => {
    if (!d || typeof d !== 'object' || Array.isArray(d) || d instanceof Set || d instanceof GlobalRef || d instanceof NDArray) {
      fail('SETITEM on something that is not a dict');
    }
    setKey(d as Record<string, unknown>, k, v);
  };
  const build = (obj: unknown, state: unknown) => {
    if (obj instanceof PendingArray) {
      // ndarray.__setstate__((version, shape, dtype, is_fortran, rawdata))
      if (!Array.isArray(state) || state.length < 5) fail('numpy array state must be (version, shape, dtype, fortran, data)');
      const st = state as unknown[];
      const shape = asIntList(st[1], 'array shape', { file, global: 'numpy.ndarray' });
      const dt = st[2];
      if (!(dt instanceof NumpyDtype)) return fail('numpy array state has no dtype');
      const fortran = Boolean(st[3]);
      const n = shape.reduce((a, b) => a * b, 1);
      let data: TypedArray | unknown[];
      if (dt.type[0] === 'O') {
        if (!Array.isArray(st[4])) return fail('object array data must be a list');
        data = st[4] as unknown[];
      } else {
        let raw = st[4];
        if (typeof raw === 'string') raw = latin1Bytes(raw); // protocol 2 numpy stores raw data as a latin-1 str
        if (!(raw instanceof Uint8Array)) return fail('numpy array data must be bytes');
        if (raw.byteLength !== n * dt.itemsize) fail(`numpy array [${shape}] ${dt.str} needs ${n * dt.itemsize} bytes, got ${raw.byteLength}`);
        data = decodeElements(raw, dt.type, n, dt.byteorder !== '>', `${file}: numpy array`);
      }
      if (fortran && shape.length > 1) {
        // Fortran order: first axis fastest; reversed-axes C order = transpose
        const fStrides = shape.map((_, i) => shape.slice(0, i).reduce((a, b) => a * b, 1));
        data = Array.isArray(data) ? gatherList(data, shape, fStrides) : gatherStrided(data, shape, fStrides, 0, `${file}: numpy array`);
      }
      obj.built = new NDArray(dt.str, shape, data);
      return;
    }
    if (obj instanceof NumpyDtype) {
      // dtype.__setstate__((version, byteorder, subdescr, names, fields, elsize, alignment, flags))
      if (Array.isArray(state) && typeof state[1] === 'string' && '<>|='.includes(state[1])) obj.byteorder = state[1] as NumpyDtype['byteorder'];
      if (Array.isArray(state) && state[3] !== null && state[3] !== undefined) fail('structured numpy dtypes are not supported');
      return;
    }
    if (obj && typeof obj === 'object' && !Array.isArray(obj) && !(obj instanceof GlobalRef) && Object.getPrototypeOf(obj) === Object.prototype) {
      // BUILD on a dict (OrderedDict with instance attributes, e.g. a state_dict's `_metadata`): the state sets
      // attributes, not items; they are kept aside (pyAttributes) so the dict's items stay what Python iterates
      let dictState = state;
      if (Array.isArray(state) && state.length === 2) dictState = state[0]; // (dict state, slot state)
      if (dictState && typeof dictState === 'object' && !Array.isArray(dictState)) {
        ATTRIBUTES.set(obj, { ...(ATTRIBUTES.get(obj) ?? {}), ...(dictState as Record<string, unknown>) });
        return;
      }
      if (dictState === null) return;
    }
    fail(`BUILD on an object that has no allowed state rule`);
  };
  const finish = (v: unknown): unknown => (v instanceof PendingArray ? v.built ?? fail('numpy array without state') : v);

  for (;;) {
    opStart = pos;
    if (pos >= bytes.length) fail('truncated: the pickle ends before its STOP opcode');
    const op = bytes[pos++];
    switch (op) {
      case 0x80: // PROTO
        if (u8() > 5) fail('pickle protocol above 5');
        break;
      case 0x95: // FRAME
        u64();
        break;
      case 0x2e: {
        // STOP
        const v = pop();
        return { value: resolvePending(v), end: pos };
      }
      case 0x28: // MARK
        metastack.push(stack);
        stack = [];
        break;
      case 0x30:
        pop();
        break;
      case 0x31:
        popMark();
        break;
      case 0x32:
        stack.push(top());
        break;
      case 0x4e:
        stack.push(null);
        break;
      case 0x88:
        stack.push(true);
        break;
      case 0x89:
        stack.push(false);
        break;
      case 0x49: {
        // INT (text); '01'/'00' are True/False in protocol 0
        const s = line();
        if (s === '01') stack.push(true);
        else if (s === '00') stack.push(false);
        else {
          if (!/^[-+]?\d+$/.test(s)) fail(`bad INT argument '${s}'`);
          stack.push(smallInt(BigInt(s)));
        }
        break;
      }
      case 0x4a:
        stack.push(i32());
        break;
      case 0x4b:
        stack.push(u8());
        break;
      case 0x4d:
        stack.push(u16());
        break;
      case 0x4c: {
        const s = line().replace(/L$/, '');
        if (!/^[-+]?\d+$/.test(s)) fail(`bad LONG argument '${s}'`);
        stack.push(smallInt(BigInt(s)));
        break;
      }
      case 0x8a:
        stack.push(decodeLong(take(u8())));
        break;
      case 0x8b: {
        const n = i32();
        if (n < 0) fail('negative LONG4 length');
        stack.push(decodeLong(take(n)));
        break;
      }
      case 0x46: {
        const s = line();
        const v = Number(s);
        if (Number.isNaN(v) && !/nan/i.test(s)) fail(`bad FLOAT argument '${s}'`);
        stack.push(v);
        break;
      }
      case 0x47:
        need(8);
        stack.push(dv.getFloat64(pos, false));
        pos += 8;
        break;
      case 0x53:
        stack.push(unquote(line(), file));
        break;
      case 0x54: {
        const n = i32();
        if (n < 0) fail('negative BINSTRING length');
        stack.push(Buffer.from(take(n)).toString('latin1'));
        break;
      }
      case 0x55:
        stack.push(Buffer.from(take(u8())).toString('latin1'));
        break;
      case 0x56:
        stack.push(rawUnicode(Buffer.from(line(), 'latin1')));
        break;
      case 0x58:
        stack.push(text(take(u32())));
        break;
      case 0x8c:
        stack.push(text(take(u8())));
        break;
      case 0x8d:
        stack.push(text(take(u64())));
        break;
      case 0x42:
        stack.push(take(u32()).slice());
        break;
      case 0x43:
        stack.push(take(u8()).slice());
        break;
      case 0x8e:
      case 0x96:
        stack.push(take(u64()).slice());
        break;
      case 0x29:
        stack.push([]);
        break;
      case 0x74:
        {
          const items = popMark(); // before reading `stack`: popMark replaces it
          stack.push(items);
        }
        break;
      case 0x85:
        stack.push([pop()]);
        break;
      case 0x86: {
        const b = pop();
        const a = pop();
        stack.push([a, b]);
        break;
      }
      case 0x87: {
        const c = pop();
        const b = pop();
        const a = pop();
        stack.push([a, b, c]);
        break;
      }
      case 0x5d:
        stack.push([]);
        break;
      case 0x6c:
        {
          const items = popMark(); // before reading `stack`: popMark replaces it
          stack.push(items);
        }
        break;
      case 0x61: {
        const v = pop();
        const l = top();
        if (!Array.isArray(l)) fail('APPEND to something that is not a list');
        (l as unknown[]).push(v);
        break;
      }
      case 0x65: {
        const items = popMark();
        const l = top();
        if (!Array.isArray(l)) fail('APPENDS to something that is not a list');
        for (const v of items) (l as unknown[]).push(v);
        break;
      }
      case 0x7d:
        stack.push(newDict());
        break;
      case 0x64: {
        const items = popMark();
        const d = newDict();
        for (let i = 0; i + 1 < items.length; i += 2) setKey(d, items[i], items[i + 1]);
        stack.push(d);
        break;
      }
      case 0x73: {
        const v = pop();
        const k = pop();
        setItem(top(), k, v);
        break;
      }
      case 0x75: {
        const items = popMark();
        const d = top();
        if (items.length % 2) fail('SETITEMS with an odd number of items');
        for (let i = 0; i < items.length; i += 2) setItem(d, items[i], items[i + 1]);
        break;
      }
      case 0x8f:
        stack.push(new Set());
        break;
      case 0x90: {
        const items = popMark();
        const s = top();
        if (!(s instanceof Set)) fail('ADDITEMS to something that is not a set');
        for (const v of items) (s as Set<unknown>).add(v);
        break;
      }
      case 0x91:
        {
          const items = popMark();
          stack.push(new Set(items));
        }
        break;
      case 0x63: {
        const module = line();
        const name = line();
        stack.push(resolveGlobal(module, name));
        break;
      }
      case 0x93: {
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') fail('STACK_GLOBAL needs two strings');
        stack.push(resolveGlobal(module as string, name as string));
        break;
      }
      case 0x52: {
        const args = pop();
        const fn = pop();
        stack.push(call(fn, args, 'REDUCE'));
        break;
      }
      case 0x81: {
        const args = pop();
        const cls = pop();
        stack.push(call(cls, args, 'NEWOBJ'));
        break;
      }
      case 0x92: {
        const kwargs = pop();
        const args = pop();
        const cls = pop();
        if (kwargs && typeof kwargs === 'object' && Object.keys(kwargs).length) fail('NEWOBJ_EX with keyword arguments is not supported');
        stack.push(call(cls, args, 'NEWOBJ_EX'));
        break;
      }
      case 0x62: {
        const state = pop();
        build(top(), state);
        break;
      }
      case 0x69: {
        // INST module\nname\n: class call with the marked items
        const g = resolveGlobal(line(), line());
        const items = popMark();
        stack.push(call(g, items, 'INST'));
        break;
      }
      case 0x6f: {
        const items = popMark();
        if (items.length === 0) fail('OBJ without a class');
        stack.push(call(items[0], items.slice(1), 'OBJ'));
        break;
      }
      case 0x70: {
        const s = line();
        if (!/^\d+$/.test(s)) fail(`bad PUT argument '${s}'`);
        memo.set(Number(s), top());
        break;
      }
      case 0x71:
        memo.set(u8(), top());
        break;
      case 0x72:
        memo.set(u32(), top());
        break;
      case 0x94:
        memo.set(memo.size, top());
        break;
      case 0x67:
      case 0x68:
      case 0x6a: {
        const k = op === 0x67 ? Number(line()) : op === 0x68 ? u8() : u32();
        if (!memo.has(k)) fail(`memo key ${k} was never stored (corrupt pickle)`);
        stack.push(memo.get(k));
        break;
      }
      case 0x50:
        stack.push(persistent(line()));
        break;
      case 0x51:
        stack.push(persistent(resolvePending(pop())));
        break;
      default:
        fail(`unsupported opcode ${OPNAMES[op] ?? `0x${op.toString(16).padStart(2, '0')}`}${OPNAMES[op] ? '' : ' (not a pickle, or corrupt)'}`);
    }
  }

  /** Replace numpy placeholders by their arrays everywhere (they are shared through the memo). */
  function resolvePending(v: unknown): unknown {
    const seen = new Set<unknown>();
    const walk = (x: unknown): unknown => {
      if (x instanceof PendingArray) return finish(x);
      if (!x || typeof x !== 'object' || seen.has(x)) return x;
      seen.add(x);
      if (Array.isArray(x)) {
        for (let i = 0; i < x.length; i++) x[i] = walk(x[i]);
      } else if (x instanceof Set) {
        const vals = [...x];
        if (vals.some((e) => e instanceof PendingArray)) {
          x.clear();
          for (const e of vals) x.add(walk(e));
        }
      } else if (Object.getPrototypeOf(x) === Object.prototype) {
        const o = x as Record<string, unknown>;
        for (const k of Object.keys(o)) o[k] = walk(o[k]);
      } else if (x instanceof GlobalRef) {
        return x.entry.value ?? `<global ${x.name}>`;
      }
      return x;
    };
    return walk(v);
  }
}

function gatherList(src: unknown[], shape: number[], strides: number[]): unknown[] {
  const n = shape.reduce((a, b) => a * b, 1);
  const out: unknown[] = new Array(n);
  const idx = new Array(shape.length).fill(0);
  for (let i = 0; i < n; i++) {
    let p = 0;
    for (let d = 0; d < shape.length; d++) p += idx[d] * strides[d];
    out[i] = src[p];
    for (let d = shape.length - 1; d >= 0; d--) {
      if (++idx[d] < shape[d]) break;
      idx[d] = 0;
    }
  }
  return out;
}

/** Read a whole buffer holding one pickle (trailing bytes after STOP are refused as corrupt). */
export function readPickle(bytes: Uint8Array, opts: PickleOptions = {}): unknown {
  const r = readPickleAt(bytes, 0, opts);
  if (r.end !== bytes.length) throw new PickleError(`${opts.file ?? '<pickle>'}: ${bytes.length - r.end} unexpected byte(s) after the pickle's STOP opcode`);
  return r.value;
}

/** Read a pickle file (plans.pkl, model_final_checkpoint.model.pkl, ...). */
export function readPickleFile(file: string, opts: Omit<PickleOptions, 'file'> = {}): unknown {
  let buf: Buffer;
  try {
    buf = fs.readFileSync(file);
  } catch (e) {
    throw new PickleError(`${file}: cannot read: ${(e as Error).message}`);
  }
  return readPickle(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength), { ...opts, file });
}
