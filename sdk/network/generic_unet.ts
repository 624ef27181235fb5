/**
 * Generic U-Net (nnU-Net v1, as nnUNetTrainerV2 configures it) as explicit tf.Variables plus a forward function, so
 * that our conv ops (sdk/network/ops.ts) and instance norm are used on every backend.
 *
 * Tensors are channels-last inside: input [N, Z, Y, X, C] (3D) or [N, Y, X, C] (2D), spatial order (z, y, x).
 * Memory: `forward` creates no lasting tensors except its outputs; call it inside tf.tidy / optimizer.minimize /
 * tf.variableGrads. `predict` tidies itself.
 */
import * as tf from '@tensorflow/tfjs';
import { RandomState } from '../util/random';
import { useNativeConv3d } from './backend';
import { readScalar } from './read';
import {
  buildArchitecture,
  ConvBlockSpec,
  HE_INIT_NEG_SLOPE,
  INSTANCE_NORM_EPS,
  inputDivisibility,
  LEAKY_RELU_SLOPE,
  NetworkArchitecture,
  NetworkOptions,
  parameterCount,
  UNetPlansConfiguration,
} from './architecture';
import { biasInstanceNormLeakyRelu, concatND, conv1x1, conv2d, conv3d, convTranspose2d, convTranspose3d } from './ops';

export interface GenericUNetInit {
  /** Seed for He initialisation (numpy-compatible RandomState normal draws, in state_dict order). Default 12345. */
  seed?: number;
}

let instanceCounter = 0;

/** He (Kaiming normal, a = 0.01, fan_in) weights; zero biases; instance-norm weight 1, bias 0 (initialization.py). */
export function initialValues(arch: NetworkArchitecture, seed = 12345): Map<string, Float32Array> {
  const rs = new RandomState(seed);
  const gain = Math.sqrt(2 / (1 + HE_INIT_NEG_SLOPE * HE_INIT_NEG_SLOPE));
  const out = new Map<string, Float32Array>();
  for (const p of arch.params) {
    const n = p.shape.reduce((a, b) => a * b, 1);
    const v = new Float32Array(n);
    if (p.init === 'ones') v.fill(1);
    else if (p.init === 'he') {
      const std = gain / Math.sqrt(p.fanIn!);
      for (let i = 0; i < n; i++) v[i] = rs.normal(0, std);
    }
    out.set(p.name, v);
  }
  return out;
}

export class GenericUNet {
  readonly architecture: NetworkArchitecture;
  /** Variables by state_dict name (tfjs variable names carry a unique instance prefix). */
  readonly variables: Map<string, tf.Variable>;
  private disposed = false;

  constructor(architecture: NetworkArchitecture, values?: Map<string, Float32Array>, init: GenericUNetInit = {}) {
    this.architecture = architecture;
    const vals = values ?? initialValues(architecture, init.seed);
    const prefix = `nnunet_unet_${instanceCounter++}/`;
    this.variables = new Map();
    for (const p of architecture.params) {
      const v = vals.get(p.name);
      if (!v) throw new Error(`GenericUNet: no value for parameter ${p.name}`);
      const n = p.shape.reduce((a, b) => a * b, 1);
      if (v.length !== n) throw new Error(`GenericUNet: parameter ${p.name} has ${v.length} values, shape [${p.shape}] needs ${n}`);
      this.variables.set(p.name, tf.variable(tf.tensor(v, p.shape, 'float32'), true, prefix + p.name));
    }
  }

  /** Build from a plans configuration (pool_op_kernel_sizes, conv_kernel_sizes, UNet_base_num_features, ...). */
  static fromPlans(cfg: UNetPlansConfiguration, opts: NetworkOptions & GenericUNetInit): GenericUNet {
    return new GenericUNet(buildArchitecture(cfg, opts), undefined, { seed: opts.seed });
  }

  get parameterCount(): number {
    return parameterCount(this.architecture);
  }

  /** Trainable variables in state_dict order (for optimizers and variableGrads). */
  trainableVariables(): tf.Variable[] {
    return this.architecture.params.map((p) => this.variables.get(p.name)!);
  }

  private v(name: string): tf.Variable {
    const t = this.variables.get(name);
    if (!t) throw new Error(`GenericUNet: missing variable ${name}`);
    return t;
  }

  /** conv -> bias -> instance norm -> LeakyReLU; `isInput`: x is the network input, which needs no gradient. */
  private block(x: tf.Tensor, b: ConvBlockSpec, isInput = false): tf.Tensor {
    const w = this.v(`${b.prefix}.conv.weight`);
    const opts = { inputGradient: !isInput };
    const y =
      this.architecture.dim === 3
        ? conv3d(x as tf.Tensor5D, w as tf.Tensor5D, b.stride as [number, number, number], b.pad as [number, number, number], opts)
        : conv2d(x as tf.Tensor4D, w as tf.Tensor4D, b.stride as [number, number], b.pad as [number, number], opts);
    return biasInstanceNormLeakyRelu(
      y,
      this.v(`${b.prefix}.conv.bias`) as tf.Tensor1D,
      this.v(`${b.prefix}.instnorm.weight`) as tf.Tensor1D,
      this.v(`${b.prefix}.instnorm.bias`) as tf.Tensor1D,
      INSTANCE_NORM_EPS,
      LEAKY_RELU_SLOPE,
    );
  }

  private checkInput(x: tf.Tensor): void {
    const a = this.architecture;
    const rank = a.dim + 2;
    if (x.rank !== rank || x.shape[rank - 1] !== a.numInputChannels) {
      throw new Error(
        `GenericUNet: input shape [${x.shape}] must be [N, ${a.dim === 3 ? 'Z, Y, X' : 'Y, X'}, ${a.numInputChannels}] (channels last)`,
      );
    }
    const div = inputDivisibility(a);
    const sp = x.shape.slice(1, rank - 1);
    if (sp.some((s, i) => s % div[i] !== 0)) {
      throw new Error(`GenericUNet: spatial size [${sp}] must be divisible by [${div}] (product of the pool kernels)`);
    }
  }

  /**
   * All deep-supervision logits, highest resolution first (output k is downsampled by the cumulative product of
   * pool_op_kernel_sizes[0..k-1]); no softmax. `training` is accepted for API symmetry: with instance norm (no
   * running statistics) and no dropout, nnU-Net's network computes the same function in train and eval mode.
   * Under a gradient tape, gradients flow to the parameters only: the gradient with respect to `x` (the image) is not
   * computed and comes back as zeros, as training never needs it.
   */
  forward(x: tf.Tensor, _opts: { training?: boolean } = {}): tf.Tensor[] {
    this.assertAlive();
    this.checkInput(x);
    return tf.tidy(() => this.traverse(x, false).reverse());
  }

  /**
   * Full-resolution logits only (deep supervision off), as nnU-Net's inference uses the network. Same arithmetic as
   * `forward(x)[0]`, but without a gradient tape nothing needs to stay alive: each activation is freed as soon as the
   * next exists (skips until their concatenation), and only the full-resolution head runs. Peak memory is the skips
   * plus about two full-resolution activations instead of every activation of the pass, which is what lets a
   * 80x192x160 CT tile run inside the 4 GB wasm heap. The input stays owned by the caller.
   */
  predict(x: tf.Tensor): tf.Tensor {
    this.assertAlive();
    this.checkInput(x);
    return this.traverse(x, true)[0];
  }

  /**
   * The one U-Net pass: encoder blocks (skips kept), then per decoder level transposed-conv upsampling,
   * concatenation [upsampled, skip] and the blocks. `release` (inference): free every activation as soon as the next
   * exists and a skip once concatenated, and run only the last (full-resolution) head; otherwise (under a tape) keep
   * everything and return every head's logits, lowest resolution first.
   */
  private traverse(x: tf.Tensor, release: boolean): tf.Tensor[] {
    const a = this.architecture;
    const decoders = a.stages.filter((s) => s.kind === 'decoder');
    const skips: (tf.Tensor | null)[] = []; // encoder outputs awaiting their concatenation (null once consumed)
    const outs: tf.Tensor[] = [];
    let h = x;
    const advance = (next: tf.Tensor) => {
      if (release && h !== x && !skips.includes(h)) h.dispose();
      h = next;
    };
    try {
      for (const s of a.stages) {
        if (s.kind === 'decoder') break;
        for (const b of s.blocks) advance(tf.tidy(() => this.block(h, b, h === x)));
        if (s.kind === 'encoder') skips.push(h);
      }
      for (const [u, s] of decoders.entries()) {
        const w = this.v(s.upsample!.name);
        advance(tf.tidy(() => (a.dim === 3 ? convTranspose3d(h as tf.Tensor5D, w as tf.Tensor5D) : convTranspose2d(h as tf.Tensor4D, w as tf.Tensor4D))));
        const k = skips.length - 1 - u;
        const skip = skips[k]!;
        advance(tf.tidy(() => concatND([h, skip], a.dim + 1)));
        skips[k] = null;
        if (release) skip.dispose();
        for (const b of s.blocks) advance(tf.tidy(() => this.block(h, b)));
        if (!release || u === decoders.length - 1) outs.push(tf.tidy(() => conv1x1(h, this.v(s.segHead!.name))));
      }
      return outs;
    } finally {
      if (release) {
        if (h !== x) h.dispose();
        for (const t of skips) if (t && t !== h) t.dispose();
      }
    }
  }

  /**
   * Loss and parameter gradients for a batch. With `microBatch` < N the batch is processed in chunks with exactly
   * the same result: the network is independent per sample (instance norm, no batch statistics), so we run the
   * forward pass without a tape, take d loss / d outputs for the whole batch (the loss may couple samples, e.g.
   * batch Dice), then back-propagate chunk by chunk (recomputing each chunk's forward) and sum. Costs one extra
   * forward pass, bounds memory to one chunk's activations (the wasm heap cannot hold batch 7 at 40x56x40 at once).
   * Returned gradient tensors belong to the caller (dispose them). Async: the loss is read with `data()` (WebGPU in
   * Node cannot read tensors synchronously).
   */
  async computeGradients(
    x: tf.Tensor,
    lossFn: (outputs: tf.Tensor[]) => tf.Scalar,
    opts: { microBatch?: number } = {},
  ): Promise<{ loss: number; grads: Map<string, tf.Tensor> }> {
    this.assertAlive();
    const vars = this.trainableVariables();
    const names = this.architecture.params.map((p) => p.name);
    const n = x.shape[0];
    const mb = Math.max(1, Math.min(n, opts.microBatch ?? this.defaultMicroBatch(x.shape.slice(1, -1), n)));
    if (mb >= n) {
      const { value, grads } = tf.variableGrads(() => lossFn(this.forward(x, { training: true })), vars);
      const out = new Map(vars.map((v, i) => [names[i], grads[v.name]]));
      return { loss: await readScalar(value, [...out.values()]), grads: out };
    }
    const chunk = (t: tf.Tensor, start: number, len: number) =>
      tf.slice(t, [start, ...new Array(t.rank - 1).fill(0)], [len, ...t.shape.slice(1)]);
    const starts: number[] = [];
    for (let s = 0; s < n; s += mb) starts.push(s);
    // 1. forward without gradients, chunk by chunk
    const parts = starts.map((s) => tf.tidy(() => this.forward(chunk(x, s, Math.min(mb, n - s)))));
    const outputs = parts[0].map((_, k) => tf.concat(parts.map((p) => p[k]), 0));
    tf.dispose(parts);
    // 2. loss and its gradient w.r.t. every output
    const lossT = tf.tidy(() => lossFn(outputs));
    const loss = await readScalar(lossT, outputs);
    const dOut = tf.grads((...o: tf.Tensor[]) => lossFn(o))(outputs);
    tf.dispose(outputs);
    // 3. vector-Jacobian product per chunk, summed
    const acc = new Map<string, tf.Tensor>();
    for (const s of starts) {
      const len = Math.min(mb, n - s);
      const { value, grads } = tf.variableGrads(() => {
        const o = this.forward(chunk(x, s, len), { training: true });
        return tf.addN(o.map((ok, k) => tf.sum(tf.mul(ok, chunk(dOut[k], s, len))))) as tf.Scalar;
      }, vars);
      value.dispose();
      vars.forEach((v, i) => {
        const g = grads[v.name];
        const prev = acc.get(names[i]);
        if (prev) {
          acc.set(names[i], tf.add(prev, g));
          tf.dispose([prev, g]);
        } else acc.set(names[i], g);
      });
    }
    tf.dispose(dOut);
    return { loss, grads: acc };
  }

  /**
   * Float32 bytes the backward pass keeps per sample (per conv block: its input and its pre-norm output; per decoder
   * level also the upsampled, concatenated maps and logits), at input size `spatial`.
   */
  activationBytesPerSample(spatial: number[]): number {
    let floats = 0;
    for (const s of this.architecture.stages) {
      const vox = spatial.reduce((a, p, i) => a * (p / s.scale[i]), 1);
      const f = s.blocks[s.blocks.length - 1].outChannels;
      floats += vox * f * 2 * s.blocks.length;
      if (s.kind === 'decoder') floats += vox * (3 * f + this.architecture.numClasses);
    }
    return floats * 4;
  }

  /**
   * Samples per backward chunk when none is given: the whole batch on native TensorFlow; on wasm/cpu as many as keep
   * the saved activations under ~700 MB (the wasm heap is 32-bit: hippocampus 3d_fullres fails at 7 samples in one
   * tape and works at 4, measured).
   */
  defaultMicroBatch(spatial: number[], batch: number): number {
    if (useNativeConv3d()) return batch;
    return Math.max(1, Math.min(batch, Math.floor(700e6 / this.activationBytesPerSample(spatial))));
  }

  /** Current parameter values by state_dict name (copies). */
  async getValues(): Promise<Map<string, Float32Array>> {
    const out = new Map<string, Float32Array>();
    for (const p of this.architecture.params) out.set(p.name, (await this.v(p.name).data()) as Float32Array);
    return out;
  }

  /** Assign parameter values (shapes must match the architecture). */
  setValues(values: Map<string, Float32Array>): void {
    for (const p of this.architecture.params) {
      const v = values.get(p.name);
      if (!v) throw new Error(`GenericUNet.setValues: missing parameter ${p.name}`);
      const n = p.shape.reduce((a, b) => a * b, 1);
      if (v.length !== n) throw new Error(`GenericUNet.setValues: ${p.name} has ${v.length} values, expected ${n}`);
      tf.tidy(() => this.v(p.name).assign(tf.tensor(v, p.shape, 'float32')));
    }
  }

  dispose(): void {
    if (this.disposed) return;
    for (const v of this.variables.values()) v.dispose();
    this.disposed = true;
  }

  private assertAlive(): void {
    if (this.disposed) throw new Error('GenericUNet: used after dispose()');
  }
}
