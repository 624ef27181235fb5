/**
 * Fixes for tfjs-backend-webgpu 4.22 kernels that generate invalid WGSL for rank-5 tensors (the 3D U-Net's
 * [N, D, H, W, C]), found by the op tests on webgpu. Both shaders index tfjs's `vec5` struct like a vector
 * ("cannot index type 'vec5'"); the pipeline is then invalid and the op silently returns zeros:
 * - PadV2 (every zero pad of a 3D feature map; also tfjs's gradient of Slice): here an axis followed by unpadded
 *   axes pads as one merged axis, so [N, D, H, W, C] padded on D, H, W runs as a rank-4 pad of [N, D, H, W*C];
 *   shapes that still exceed rank 4 pad one axis at a time as rank-3 views.
 * - Binary ops with a rank-1 operand of fewer than 128 elements (tfjs's shared-memory path, e.g. adding a bias [C]
 *   to a rank-5 feature map): the small operand is reshaped to [1, ..., 1, C] first, which takes the plain path.
 * - Select (tf.where; LeakyReLU's gradient): "Where for rank 5 is not yet supported". Element-wise, so it runs on
 *   flat views of the same data.
 * The wrapped kernels call the original ones on reshaped views (no copies), so the values are tfjs's own.
 */
import * as tf from '@tensorflow/tfjs';

type Info = tf.TensorInfo;
type KernelFunc = (p: { inputs: Record<string, Info>; backend: unknown; attrs?: Record<string, unknown> }) => Info | Info[];

const BINARY = [
  'Add', 'Sub', 'Multiply', 'RealDiv', 'FloorDiv', 'Maximum', 'Minimum', 'Pow', 'SquaredDifference', 'Greater',
  'GreaterEqual', 'Less', 'LessEqual', 'Equal', 'NotEqual', 'LogicalAnd', 'LogicalOr', 'Atan2', 'Mod', 'Prelu',
];

let done = false;

export function registerWebGpuKernelFixes(): void {
  if (done) return;
  const reshapeK = tf.getKernel('Reshape', 'webgpu');
  if (!reshapeK) return; // backend not loaded
  done = true;
  const reshape = reshapeK.kernelFunc as unknown as KernelFunc;
  const view = (x: Info, shape: number[], backend: unknown) => reshape({ inputs: { x }, backend, attrs: { shape } }) as Info;
  const release = (backend: unknown, ...xs: Info[]) => xs.forEach((x) => (backend as { disposeData(id: object): void }).disposeData(x.dataId));

  const replace = (name: string, make: (orig: KernelFunc) => KernelFunc) => {
    const k = tf.getKernel(name, 'webgpu');
    if (!k) return;
    const orig = k.kernelFunc as unknown as KernelFunc;
    tf.unregisterKernel(name, 'webgpu');
    tf.registerKernel({ ...k, kernelFunc: make(orig) as unknown as tf.KernelFunc });
  };

  replace('PadV2', (orig) => (p) => {
    const x = p.inputs.x;
    const paddings = p.attrs!.paddings as Array<[number, number]>;
    if (x.shape.length <= 4) return orig(p);
    const shape: number[] = [];
    const pads: Array<[number, number]> = [];
    x.shape.forEach((d, a) => {
      const [lo, hi] = paddings[a];
      if (a > 0 && lo === 0 && hi === 0) {
        const last = shape.length - 1;
        pads[last] = [pads[last][0] * d, pads[last][1] * d];
        shape[last] *= d;
      } else {
        shape.push(d);
        pads.push([lo, hi]);
      }
    });
    const outShape = x.shape.map((d, a) => d + paddings[a][0] + paddings[a][1]);
    if (shape.length <= 4) {
      const v = view(x, shape, p.backend);
      const y = orig({ ...p, inputs: { x: v }, attrs: { ...p.attrs, paddings: pads } }) as Info;
      const out = view(y, outShape, p.backend);
      release(p.backend, v, y);
      return out;
    }
    let cur: Info = x;
    const dims = [...x.shape];
    let owned = false;
    for (let a = 0; a < dims.length; a++) {
      const [lo, hi] = paddings[a];
      if (!lo && !hi) continue;
      const outer = dims.slice(0, a).reduce((s, q) => s * q, 1);
      const inner = dims.slice(a + 1).reduce((s, q) => s * q, 1);
      const v = view(cur, [outer, dims[a], inner], p.backend);
      const y = orig({ ...p, inputs: { x: v }, attrs: { ...p.attrs, paddings: [[0, 0], [lo, hi], [0, 0]] } }) as Info;
      release(p.backend, v);
      if (owned) release(p.backend, cur);
      cur = y;
      owned = true;
      dims[a] += lo + hi;
    }
    const out = view(cur, outShape, p.backend);
    if (owned) release(p.backend, cur);
    return out;
  });

  replace('Select', (orig) => (p) => {
    const { condition, t, e } = p.inputs;
    if (t.shape.length <= 4) return orig(p);
    const size = t.shape.reduce((s, q) => s * q, 1);
    // tfjs Select: condition has t's shape, or is rank 1 over t's first axis
    const flat = condition.shape.length === t.shape.length ? [size] : [t.shape[0], size / t.shape[0]];
    const c = view(condition, condition.shape.length === t.shape.length ? [size] : [t.shape[0]], p.backend);
    const tv = view(t, flat, p.backend);
    const ev = view(e, flat, p.backend);
    const y = orig({ ...p, inputs: { condition: c, t: tv, e: ev } }) as Info;
    const out = view(y, t.shape, p.backend);
    release(p.backend, c, tv, ev, y);
    return out;
  });

  for (const name of BINARY) {
    replace(name, (orig) => (p) => {
      const names = Object.keys(p.inputs);
      if (names.length !== 2) return orig(p);
      const [a, b] = names.map((n) => p.inputs[n]);
      const rank = Math.max(a.shape.length, b.shape.length);
      const small = (t: Info) => t.shape.length <= 1 && rank >= 5;
      if (!small(a) && !small(b)) return orig(p);
      const lift = (t: Info) => (small(t) ? view(t, [...new Array(rank - 1).fill(1), t.shape[0] ?? 1], p.backend) : null);
      const la = lift(a);
      const lb = lift(b);
      const out = orig({ ...p, inputs: { [names[0]]: la ?? a, [names[1]]: lb ?? b } });
      release(p.backend, ...[la, lb].filter((t): t is Info => t !== null));
      return out;
    });
  }
}
