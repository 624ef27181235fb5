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
 * The module is assembled below with wasm_asm.ts rather than shipped as a binary: there is no wasm toolchain on these
 * machines, and the encoding is short enough to read. It needs SIMD and bulk memory (Node >= 16); where it
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

import {
  ADD, CONST, LOAD, MEMCPY, MUL, SHR_U, SHUFFLE32, STORE, V128, I32, V128_LOAD, V128_STORE,
  addConst, addTo, assembleModule, countedLoop, get, set,
} from './wasm_asm';

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

  // (the single-thread tfjs-wasm build has a plain memory; a shared one would fail to link, and the kernels would copy
  // in JS)
  return assembleModule([
    { name: 'copy_rows_memcpy', params: 6, locals: [], code: copyRowsMemcpy },
    { name: 'copy_rows_v128', params: 6, locals: [[3, I32]], code: copyRowsV128 },
    { name: 'copy_rows_words', params: 6, locals: [[3, I32]], code: copyRowsWords },
    { name: 'transpose_ahc', params: 6, locals: [[23, I32], [8, V128]], code: transposeAhc },
  ]);
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

/** tfjs-wasm's heap (its WebAssembly.Memory) from a backend object, or null where it has none (not wasm). */
export function heapOf(backend: unknown): WasmMemory | null {
  const memory = (backend as { wasm?: { asm?: { memory?: unknown } } } | undefined)?.wasm?.asm?.memory;
  return isWasmMemory(memory) ? memory : null;
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
