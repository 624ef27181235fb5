/**
 * Memory-moving routines as a tiny WebAssembly module that imports tfjs-wasm's own memory, so the kernels in
 * wasm_kernels.ts copy inside the heap in wasm instead of in JS:
 *
 * - `copy_rows_v128` / `copy_rows_memcpy(src, srcStride, dst, dstStride, rows, bytes)`: `rows` runs of `bytes`
 *   bytes, by 16-byte SIMD moves or one `memory.copy` (a native memmove) per run. Stacking three [179200, 32]
 *   float32 tensors on channels is 537,600 runs of 128 bytes: 46 ms as one TypedArray.set per run in JS, 34 ms with
 *   memory.copy, 23 ms with v128 moves (measured).
 * - `copy_rows_words`: the same with 4-byte moves, for runs too short for either of the above.
 *
 * The module is assembled below by a few lines of encoder rather than shipped as a binary: there is no wasm toolchain
 * on these machines, and the encoding is short enough to read. It needs SIMD and bulk memory (Node >= 16); where it
 * cannot compile or link, `wasmCopyFor` returns null. Addresses are wasm i32s;
 * memory instructions treat them as unsigned, so the whole 4 GB heap is reachable (JS numbers are passed through
 * ToInt32, which wraps consistently).
 */

/** The exported functions. Byte addresses and strides. */
export interface WasmCopy {
  /** `rows` runs of `bytes` bytes by memory.copy (native memmove; ~60 ns per call in V8, so for long runs). */
  copy_rows_memcpy(src: number, srcStride: number, dst: number, dstStride: number, rows: number, bytes: number): void;
  /** The same with 16-byte SIMD loads and stores; `bytes` must be a multiple of 16. */
  copy_rows_v128(src: number, srcStride: number, dst: number, dstStride: number, rows: number, bytes: number): void;
  /** The same with 4-byte loads and stores; `bytes` must be a multiple of 4 (runs too short for the others). */
  copy_rows_words(src: number, srcStride: number, dst: number, dstStride: number, rows: number, bytes: number): void;
  /** out[b][c][h][a] = in[b][a][h][c], 4-byte elements, element counts B, A, H, C with A and C multiples of 4. */
  transpose_ahc(src: number, dst: number, B: number, A: number, H: number, C: number): void;
}

// --- a minimal binary encoder -------------------------------------------------------------------------------------
function uleb(v: number): number[] {
  const out: number[] = [];
  do {
    let b = v & 0x7f;
    v >>>= 7;
    if (v !== 0) b |= 0x80;
    out.push(b);
  } while (v !== 0);
  return out;
}
const vec = (items: number[][]): number[] => [...uleb(items.length), ...items.flat()];
const section = (id: number, body: number[]): number[] => [id, ...uleb(body.length), ...body];
const name = (s: string): number[] => [...uleb(s.length), ...Array.from(s, (c) => c.charCodeAt(0))];
const I32 = 0x7f;
// opcodes
const BLOCK = 0x02, LOOP = 0x03, BR = 0x0c, BR_IF = 0x0d, END = 0x0b, VOID = 0x40;
const GET = 0x20, SET = 0x21, EQZ = 0x45, ADD = 0x6a, SUB = 0x6b, SHR_U = 0x76, CONST = 0x41;
const MUL = 0x6c;
const V128 = 0x7b;
/** i8x16.shuffle picking the four i32 lanes `lanes` (0-3: first operand, 4-7: second) */
const SHUFFLE32 = (lanes: number[]) => [0xfd, 0x0d, ...lanes.flatMap((l) => [4 * l, 4 * l + 1, 4 * l + 2, 4 * l + 3])];
const V128_LOAD = [0xfd, 0x00, 0x00, 0x00], V128_STORE = [0xfd, 0x0b, 0x00, 0x00]; // align 1 (unaligned ok), offset 0
const LOAD = [0x28, 0x02, 0x00], STORE = [0x36, 0x02, 0x00]; // i32.load / i32.store, align 4, offset 0
const MEMCPY = [0xfc, 0x0a, 0x00, 0x00]; // memory.copy 0 0 (bulk memory)
const get = (i: number) => [GET, i];
const set = (i: number) => [SET, i];
/** local[i] += local[j] */
const addTo = (i: number, j: number) => [...get(i), ...get(j), ADD, ...set(i)];
/** local[i] += c (c < 64) */
const addConst = (i: number, c: number) => [...get(i), CONST, c, ADD, ...set(i)];
/** local[i] -= 1 */
const dec = (i: number) => [...get(i), CONST, 1, SUB, ...set(i)];

/**
 * while (count-- > 0) { body } as block/loop: exits when local[count] is 0.
 *   block  loop  (br_if 1 (i32.eqz count))  body  count -= 1  (br 0)  end  end
 */
function countedLoop(count: number, body: number[]): number[] {
  return [BLOCK, VOID, LOOP, VOID, ...get(count), EQZ, BR_IF, 1, ...body, ...dec(count), BR, 0, END, END];
}

function buildModule(): Uint8Array {
  // copy_rows_* params: 0 src, 1 ss, 2 dst, 3 ds, 4 rows, 5 bytes; locals 6 sp, 7 dp, 8 moves left in the row
  const nextRow = [...addTo(0, 1), ...addTo(2, 3)];
  const copyRowsMemcpy = countedLoop(4, [...get(2), ...get(0), ...get(5), ...MEMCPY, ...nextRow]); // memory.copy(dst, src, bytes)
  /** rows moved `width` bytes at a time (log2 `shift`) with the given load and store */
  const copyRowsBy = (shift: number, load: number[], store: number[]) => countedLoop(4, [
    ...get(0), ...set(6), ...get(2), ...set(7), ...get(5), CONST, shift, SHR_U, ...set(8), // left = bytes >> shift
    ...countedLoop(8, [...get(7), ...get(6), ...load, ...store, ...addConst(6, 1 << shift), ...addConst(7, 1 << shift)]),
    ...nextRow,
  ]);
  const copyRowsV128 = copyRowsBy(4, V128_LOAD, V128_STORE);
  const copyRowsWords = copyRowsBy(2, LOAD, STORE);

  // transpose_ahc params: 0 src, 1 dst, 2 B, 3 A, 4 H, 5 C (element counts, A and C multiples of 4): out[b][c][h][a] =
  // in[b][a][h][c] for 4-byte elements, by 4x4 blocks (four v128 loads along c, a 4x4 lane transpose by shuffles, four
  // v128 stores along a). i32 locals: 6-9 inA*1..4 (bytes between a rows), 10-13 outC*1..4 (between c rows), 14 inH,
  // 15 outH, 16 per-batch bytes, 17-20 counters b/h/a/c, 21-28 pointers bsp bdp hsp hdp asp adp sp dp; v128 29-36.
  const mulTo = (dst: number, a: number[], b: number[]) => [...a, ...b, MUL, ...set(dst)];
  const c4 = [CONST, 4];
  const at = (ptr: number, off: number) => (off === 0 ? get(ptr) : [...get(ptr), ...get(off), ADD]);
  const [r0, r1, r2, r3, t0, t1, t2, t3] = [29, 30, 31, 32, 33, 34, 35, 36];
  const block4 = [
    ...at(27, 0), ...V128_LOAD, ...set(r0),
    ...at(27, 6), ...V128_LOAD, ...set(r1),
    ...at(27, 7), ...V128_LOAD, ...set(r2),
    ...at(27, 8), ...V128_LOAD, ...set(r3),
    ...get(r0), ...get(r1), ...SHUFFLE32([0, 4, 1, 5]), ...set(t0),
    ...get(r0), ...get(r1), ...SHUFFLE32([2, 6, 3, 7]), ...set(t1),
    ...get(r2), ...get(r3), ...SHUFFLE32([0, 4, 1, 5]), ...set(t2),
    ...get(r2), ...get(r3), ...SHUFFLE32([2, 6, 3, 7]), ...set(t3),
    ...at(28, 0), ...get(t0), ...get(t2), ...SHUFFLE32([0, 1, 4, 5]), ...V128_STORE,
    ...at(28, 10), ...get(t0), ...get(t2), ...SHUFFLE32([2, 3, 6, 7]), ...V128_STORE,
    ...at(28, 11), ...get(t1), ...get(t3), ...SHUFFLE32([0, 1, 4, 5]), ...V128_STORE,
    ...at(28, 12), ...get(t1), ...get(t3), ...SHUFFLE32([2, 3, 6, 7]), ...V128_STORE,
    ...addConst(27, 16), ...addTo(28, 13),
  ];
  const transposeAhc = [
    ...mulTo(14, get(5), c4), ...mulTo(15, get(3), c4), // inH = 4C, outH = 4A
    ...mulTo(6, get(4), get(14)), ...mulTo(7, get(6), [CONST, 2]), ...mulTo(8, get(6), [CONST, 3]), ...mulTo(9, get(6), c4),
    ...mulTo(10, get(4), get(15)), ...mulTo(11, get(10), [CONST, 2]), ...mulTo(12, get(10), [CONST, 3]), ...mulTo(13, get(10), c4),
    ...mulTo(16, get(3), get(6)), // bytes per batch: A * H * C * 4 (the same on both sides)
    ...get(2), ...set(17), ...get(0), ...set(21), ...get(1), ...set(22),
    ...countedLoop(17, [
      ...get(4), ...set(18), ...get(21), ...set(23), ...get(22), ...set(24),
      ...countedLoop(18, [
        ...get(3), CONST, 2, SHR_U, ...set(19), ...get(23), ...set(25), ...get(24), ...set(26),
        ...countedLoop(19, [
          ...get(5), CONST, 2, SHR_U, ...set(20), ...get(25), ...set(27), ...get(26), ...set(28),
          ...countedLoop(20, block4),
          ...addTo(25, 9), ...addConst(26, 16),
        ]),
        ...addTo(23, 14), ...addTo(24, 15),
      ]),
      ...addTo(21, 16), ...addTo(22, 16),
    ]),
  ];

  const body = (locals: number[][], code: number[]) => {
    const b = [...vec(locals), ...code, END];
    return [...uleb(b.length), ...b];
  };
  const bytes = [
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version 1
    // one type for every function: (6 x i32) -> ()
    ...section(1, vec([[0x60, ...vec(Array.from({ length: 6 }, () => [I32])), 0x00]])),
    // import env.memory: min 0 pages, no max, not shared (backend.ts always loads the single-thread build; a shared
    // memory would fail to link, and the kernels would copy in JS)
    ...section(2, vec([[...name('env'), ...name('memory'), 0x02, 0x00, 0x00]])),
    ...section(3, vec([[0], [0], [0], [0]])), // function types
    ...section(7, vec([ // exports
      [...name('copy_rows_memcpy'), 0x00, 0],
      [...name('copy_rows_v128'), 0x00, 1],
      [...name('copy_rows_words'), 0x00, 2],
      [...name('transpose_ahc'), 0x00, 3],
    ])),
    ...section(10, vec([body([], copyRowsMemcpy), body([[3, I32]], copyRowsV128), body([[3, I32]], copyRowsWords), body([[23, I32], [8, V128]], transposeAhc)])),
  ];
  return new Uint8Array(bytes);
}

/** A WebAssembly.Memory (the project's TypeScript lib has no WebAssembly declarations). */
export interface WasmMemory {
  readonly buffer: ArrayBufferLike;
}
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const WA = (globalThis as any).WebAssembly;

/** Is `m` a WebAssembly.Memory? */
export function isWasmMemory(m: unknown): m is WasmMemory {
  return WA !== undefined && m instanceof WA.Memory;
}

const cache = new WeakMap<WasmMemory, WasmCopy | null>();

/**
 * The copy routines bound to `memory` (tfjs-wasm's heap), or null where WebAssembly cannot compile or link them (no
 * SIMD or bulk memory, a shared memory); callers then copy in JS.
 */
export function wasmCopyFor(memory: WasmMemory): WasmCopy | null {
  if (cache.has(memory)) return cache.get(memory)!;
  let result: WasmCopy | null = null;
  try {
    const mod = new WA.Module(buildModule());
    result = new WA.Instance(mod, { env: { memory } }).exports as WasmCopy;
  } catch {
    result = null;
  }
  cache.set(memory, result);
  return result;
}
