/**
 * A minimal WebAssembly binary encoder for the hand-assembled modules (wasm_copy.ts, wasm_conv.ts). There is no wasm
 * toolchain on these machines, and the few instructions these kernels need are short enough to read as byte lists.
 * Every function body is a flat number[] of instruction bytes; locals are addressed by index (parameters first).
 */

export function uleb(v: number): number[] {
  const out: number[] = [];
  do {
    let b = v & 0x7f;
    v >>>= 7;
    if (v !== 0) b |= 0x80;
    out.push(b);
  } while (v !== 0);
  return out;
}

/** Signed LEB128 (i32.const immediates). */
export function sleb(v: number): number[] {
  const out: number[] = [];
  for (;;) {
    const b = v & 0x7f;
    v >>= 7;
    if ((v === 0 && (b & 0x40) === 0) || (v === -1 && (b & 0x40) !== 0)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}

export const vec = (items: number[][]): number[] => [...uleb(items.length), ...items.flat()];
export const section = (id: number, body: number[]): number[] => [id, ...uleb(body.length), ...body];
export const name = (s: string): number[] => [...uleb(s.length), ...Array.from(s, (c) => c.charCodeAt(0))];
export const I32 = 0x7f;
export const V128 = 0x7b;
// opcodes
export const BLOCK = 0x02, LOOP = 0x03, BR = 0x0c, BR_IF = 0x0d, END = 0x0b, VOID = 0x40;
export const GET = 0x20, SET = 0x21, EQZ = 0x45, ADD = 0x6a, SUB = 0x6b, MUL = 0x6c, SHR_U = 0x76, CONST = 0x41;
export const LT_S = 0x48, SELECT = 0x1b;
/** v128.const 0 */
export const V128_ZERO = [0xfd, 0x0c, ...new Array<number>(16).fill(0)];
/** i32.const v */
export const c32 = (v: number): number[] => [CONST, ...sleb(v)];
/** i8x16.shuffle picking the four i32 lanes `lanes` (0-3: first operand, 4-7: second) */
export const SHUFFLE32 = (lanes: number[]) => [0xfd, 0x0d, ...lanes.flatMap((l) => [4 * l, 4 * l + 1, 4 * l + 2, 4 * l + 3])];
/** v128.load / v128.store at a constant byte offset from the address on the stack (align 1: unaligned is fine) */
export const vload = (offset = 0) => [0xfd, 0x00, 0x00, ...uleb(offset)];
export const vstore = (offset = 0) => [0xfd, 0x0b, 0x00, ...uleb(offset)];
/** v128.load32_splat: one float broadcast to four lanes (a plain broadcast load on AVX machines) */
export const vsplat32 = (offset = 0) => [0xfd, 0x09, 0x02, ...uleb(offset)];
export const V128_LOAD = vload(0), V128_STORE = vstore(0);
export const F32X4_ADD = [0xfd, 0xe4, 0x01], F32X4_MUL = [0xfd, 0xe6, 0x01];
/** f32x4.relaxed_madd (a * b + c; a fused multiply-add where the CPU has one), relaxed SIMD */
export const F32X4_RELAXED_MADD = [0xfd, 0x85, 0x02];
export const LOAD = [0x28, 0x02, 0x00], STORE = [0x36, 0x02, 0x00]; // i32.load / i32.store, align 4, offset 0
export const MEMCPY = [0xfc, 0x0a, 0x00, 0x00]; // memory.copy 0 0 (bulk memory)
export const get = (i: number) => [GET, i];
export const set = (i: number) => [SET, i];
/** local[i] += local[j] */
export const addTo = (i: number, j: number) => [...get(i), ...get(j), ADD, ...set(i)];
/** local[i] += c */
export const addConst = (i: number, c: number) => [...get(i), ...c32(c), ADD, ...set(i)];
/** local[i] -= 1 */
export const dec = (i: number) => [...get(i), CONST, 1, SUB, ...set(i)];

/**
 * while (count-- > 0) { body } as block/loop: exits when local[count] is 0.
 *   block  loop  (br_if 1 (i32.eqz count))  body  count -= 1  (br 0)  end  end
 */
export function countedLoop(count: number, body: number[]): number[] {
  return [BLOCK, VOID, LOOP, VOID, ...get(count), EQZ, BR_IF, 1, ...body, ...dec(count), BR, 0, END, END];
}

/** One function: its extra locals as [count, type] groups and its code (the closing `end` is added). */
export interface WasmFunction {
  name: string;
  params: number; // all i32
  locals: Array<[number, number]>;
  code: number[];
}

/**
 * A module that imports `env.memory` (min 0 pages, no maximum, not shared) and exports `fns`, each taking
 * `params` i32s and returning nothing.
 */
export function assembleModule(fns: WasmFunction[]): Uint8Array {
  const arities = [...new Set(fns.map((f) => f.params))];
  const types = arities.map((n) => [0x60, ...vec(Array.from({ length: n }, () => [I32])), 0x00]);
  const body = (f: WasmFunction) => {
    const b = [...vec(f.locals.map(([count, type]) => [...uleb(count), type])), ...f.code, END];
    return [...uleb(b.length), ...b];
  };
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version 1
    ...section(1, vec(types)),
    ...section(2, vec([[...name('env'), ...name('memory'), 0x02, 0x00, 0x00]])),
    ...section(3, vec(fns.map((f) => uleb(arities.indexOf(f.params))))),
    ...section(7, vec(fns.map((f, i) => [...name(f.name), 0x00, ...uleb(i)]))),
    ...section(10, vec(fns.map(body))),
  ]);
}
