/**
 * Writing PyTorch checkpoints without Python: a minimal pickle writer (protocol 2, as torch.save uses) and the
 * torch.save zip layout (torch >= 1.6):
 *
 *   <archive>/data.pkl     the pickled object; tensors as torch._utils._rebuild_tensor_v2(persistent storage, offset,
 *                          size, stride, requires_grad, OrderedDict()) with persistent id
 *                          ('storage', torch.FloatStorage, key, 'cpu', numel)
 *   <archive>/data/<key>   raw little-endian float32 bytes
 *   <archive>/version      '3'
 *   <archive>/byteorder    'little'
 *
 * Entries are stored uncompressed. The writer emits only the globals our reader allows (collections.OrderedDict,
 * torch._utils._rebuild_tensor_v2, torch.FloatStorage, torch.device), all of which torch.load also accepts with
 * weights_only=True. Values: null -> None, boolean, number (integer -> int, else float), string, arrays -> list,
 * `PyTuple` -> tuple, plain objects and Maps -> dict (`PyOrderedDict` -> OrderedDict), `TorchTensorOut` -> tensor,
 * `PyDevice` -> torch.device.
 */
import { zipSync } from 'fflate';

export class PyTuple {
  constructor(readonly items: unknown[]) {}
}
export class PyOrderedDict {
  constructor(readonly entries: [string, unknown][]) {}
}
export class PyDevice {
  constructor(readonly type: string) {}
}
/** A float32 tensor, C-contiguous, in PyTorch's shape. */
export class TorchTensorOut {
  constructor(
    readonly shape: number[],
    readonly data: Float32Array,
  ) {
    const n = shape.reduce((a, b) => a * b, 1);
    if (n !== data.length) throw new Error(`TorchTensorOut: shape [${shape}] needs ${n} values, got ${data.length}`);
  }
}

class Out {
  private chunks: Uint8Array[] = [];
  private buf = new Uint8Array(1 << 16);
  private pos = 0;
  byte(b: number): void {
    if (this.pos >= this.buf.length) this.flush();
    this.buf[this.pos++] = b;
  }
  bytes(b: Uint8Array): void {
    for (const x of b) this.byte(x);
  }
  private flush(): void {
    this.chunks.push(this.buf.slice(0, this.pos));
    this.pos = 0;
  }
  result(): Uint8Array {
    this.flush();
    const n = this.chunks.reduce((a, c) => a + c.length, 0);
    const r = new Uint8Array(n);
    let o = 0;
    for (const c of this.chunks) {
      r.set(c, o);
      o += c.length;
    }
    return r;
  }
}

const enc = new TextEncoder();

/** Pickle `value` (protocol 2); tensors' storages are appended to `storages` (key = index). */
export function writePickle(value: unknown, storages: Float32Array[] = []): Uint8Array {
  const o = new Out();
  const u32 = (n: number) => {
    o.byte(n & 0xff);
    o.byte((n >>> 8) & 0xff);
    o.byte((n >>> 16) & 0xff);
    o.byte((n >>> 24) & 0xff);
  };
  const str = (s: string) => {
    const b = enc.encode(s);
    o.byte(0x58); // BINUNICODE
    u32(b.length);
    o.bytes(b);
  };
  const global = (mod: string, name: string) => {
    o.byte(0x63); // GLOBAL
    o.bytes(enc.encode(`${mod}\n${name}\n`));
  };
  const int = (n: number) => {
    if (n >= -(2 ** 31) && n < 2 ** 31) {
      o.byte(0x4a); // BININT
      u32(n >>> 0);
      return;
    }
    // LONG1: little-endian two's complement
    let v = BigInt(n);
    const bytes: number[] = [];
    while (true) {
      const b = Number(v & 0xffn);
      bytes.push(b);
      v >>= 8n;
      if ((v === 0n && (b & 0x80) === 0) || (v === -1n && (b & 0x80) !== 0)) break;
    }
    o.byte(0x8a);
    o.byte(bytes.length);
    for (const b of bytes) o.byte(b);
  };
  const tuple = (items: unknown[]) => {
    if (items.length === 0) return o.byte(0x29); // EMPTY_TUPLE
    if (items.length <= 3) {
      items.forEach(w);
      return o.byte([0x85, 0x86, 0x87][items.length - 1]);
    }
    o.byte(0x28); // MARK
    items.forEach(w);
    o.byte(0x74); // TUPLE
  };
  const setitems = (entries: [unknown, unknown][]) => {
    for (let i = 0; i < entries.length; i += 1000) {
      o.byte(0x28);
      for (const [k, v] of entries.slice(i, i + 1000)) {
        w(k);
        w(v);
      }
      o.byte(0x75); // SETITEMS
    }
  };
  function w(v: unknown): void {
    if (v === null || v === undefined) return o.byte(0x4e);
    if (v === true) return o.byte(0x88);
    if (v === false) return o.byte(0x89);
    if (typeof v === 'number') {
      if (Number.isInteger(v) && !Object.is(v, -0)) return int(v);
      o.byte(0x47); // BINFLOAT, big-endian double
      const b = new Uint8Array(8);
      new DataView(b.buffer).setFloat64(0, v, false);
      return o.bytes(b);
    }
    if (typeof v === 'bigint') return int(Number(v));
    if (typeof v === 'string') return str(v);
    if (v instanceof PyTuple) return tuple(v.items);
    if (Array.isArray(v)) {
      o.byte(0x5d); // EMPTY_LIST
      for (let i = 0; i < v.length; i += 1000) {
        o.byte(0x28);
        v.slice(i, i + 1000).forEach(w);
        o.byte(0x65); // APPENDS
      }
      return;
    }
    if (v instanceof PyDevice) {
      global('torch', 'device');
      tuple([v.type]);
      return o.byte(0x52); // REDUCE
    }
    if (v instanceof PyOrderedDict) {
      global('collections', 'OrderedDict');
      o.byte(0x29);
      o.byte(0x52);
      if (v.entries.length) setitems(v.entries);
      return;
    }
    if (v instanceof TorchTensorOut) {
      const key = storages.length;
      storages.push(v.data);
      global('torch._utils', '_rebuild_tensor_v2');
      o.byte(0x28);
      // persistent id ('storage', torch.FloatStorage, key, 'cpu', numel)
      o.byte(0x28);
      str('storage');
      global('torch', 'FloatStorage');
      str(String(key));
      str('cpu');
      int(v.data.length);
      o.byte(0x74);
      o.byte(0x51); // BINPERSID
      int(0);
      tuple(v.shape);
      const strides = v.shape.map((_, i) => v.shape.slice(i + 1).reduce((a, b) => a * b, 1));
      tuple(strides);
      o.byte(0x89); // requires_grad False
      global('collections', 'OrderedDict');
      o.byte(0x29);
      o.byte(0x52);
      o.byte(0x74);
      return o.byte(0x52);
    }
    if (v instanceof Map) {
      o.byte(0x7d);
      if (v.size) setitems([...v.entries()]);
      return;
    }
    if (typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) {
      o.byte(0x7d); // EMPTY_DICT
      const e = Object.entries(v as Record<string, unknown>);
      if (e.length) setitems(e);
      return;
    }
    throw new Error(`writePickle: cannot pickle ${Object.prototype.toString.call(v)}`);
  }
  o.byte(0x80);
  o.byte(2); // PROTO 2
  w(value);
  o.byte(0x2e); // STOP
  return o.result();
}

/** torch.save(value) bytes in the zip format; `archive` is the top folder (torch uses the file's stem). */
export function torchSaveBytes(value: unknown, archive = 'archive'): Uint8Array {
  const storages: Float32Array[] = [];
  const pkl = writePickle(value, storages);
  const files: Record<string, Uint8Array> = { [`${archive}/data.pkl`]: pkl, [`${archive}/byteorder`]: enc.encode('little') };
  storages.forEach((s, i) => {
    const b = new Uint8Array(s.length * 4);
    const dv = new DataView(b.buffer);
    for (let j = 0; j < s.length; j++) dv.setFloat32(4 * j, s[j], true);
    files[`${archive}/data/${i}`] = b;
  });
  files[`${archive}/version`] = enc.encode('3\n');
  return zipSync(files, { level: 0 });
}
