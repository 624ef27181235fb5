/**
 * Optimiser pieces of nnUNetTrainerV2 (reference §6.3): poly learning rate (S1 training/learning_rate/poly_lr.py),
 * torch.optim.SGD(momentum 0.99, nesterov, weight_decay 3e-5) and torch.nn.utils.clip_grad_norm_(…, 12), as functions
 * over tf.Variables with serialisable state for checkpoints.
 */
import * as tf from '@tensorflow/tfjs';
import type { SGDState } from '../checkpoint/checkpoint';
export type { SGDState };

/** poly_lr: initial_lr·(1 − epoch/max_epochs)^exponent. */
export function polyLR(epoch: number, maxEpochs = 1000, initialLr = 0.01, exponent = 0.9): number {
  return initialLr * Math.pow(1 - epoch / maxEpochs, exponent);
}

/**
 * torch clip_grad_norm_: total = ‖(‖g_1‖, …, ‖g_n‖)‖₂; if max_norm/(total + 1e-6) < 1 every gradient is scaled by it.
 * Returns new gradient tensors (the inputs are not disposed) and the total norm before clipping. Async because the
 * norm is read back with `data()`: WebGPU in Node cannot read tensors synchronously.
 */
export async function clipGradNorm(grads: tf.NamedTensorMap, maxNorm = 12): Promise<{ grads: tf.NamedTensorMap; totalNorm: number }> {
  const names = Object.keys(grads);
  const total = tf.tidy(() => {
    let s = tf.scalar(0);
    for (const n of names) s = tf.add(s, tf.sum(tf.square(grads[n])));
    return tf.sqrt(s);
  });
  let totalNorm: number;
  try {
    totalNorm = (await total.data())[0];
  } finally {
    total.dispose();
  }
  const coef = maxNorm / (totalNorm + 1e-6);
  const out: tf.NamedTensorMap = {};
  for (const n of names) out[n] = coef < 1 ? tf.mul(grads[n], coef) : tf.clone(grads[n]);
  return { grads: out, totalNorm };
}


/**
 * torch.optim.SGD step (dampening 0): d = g + wd·p; buf = d on the first step, else momentum·buf + d;
 * Nesterov: d ← d + momentum·buf (else d ← buf); p ← p − lr·d. Weight decay applies to every parameter.
 */
export class SGDNesterov {
  lr: number;
  momentum: number;
  weightDecay: number;
  nesterov: boolean;
  private buffers = new Map<string, tf.Variable>();

  constructor(o: { lr?: number; momentum?: number; weightDecay?: number; nesterov?: boolean } = {}) {
    this.lr = o.lr ?? 0.01; // nnUNetTrainerV2.initial_lr
    this.momentum = o.momentum ?? 0.99;
    this.weightDecay = o.weightDecay ?? 3e-5; // nnUNetTrainer.weight_decay
    this.nesterov = o.nesterov ?? true;
  }

  /** Apply one update to `variables` (keyed by name, as tf.variableGrads returns gradients). */
  step(variables: Record<string, tf.Variable>, grads: tf.NamedTensorMap): void {
    for (const name of Object.keys(grads)) {
      const p = variables[name];
      if (!p) throw new Error(`SGDNesterov.step: gradient for unknown variable '${name}'`);
      const g = grads[name];
      tf.tidy(() => {
        const d = this.weightDecay !== 0 ? tf.add(g, tf.mul(this.weightDecay, p)) : g;
        let upd: tf.Tensor = d;
        if (this.momentum !== 0) {
          let buf = this.buffers.get(name);
          if (!buf) {
            buf = tf.variable(tf.clone(d), false, `${name}__momentum_buffer`);
            this.buffers.set(name, buf);
          } else buf.assign(tf.add(tf.mul(this.momentum, buf), d));
          upd = this.nesterov ? tf.add(d, tf.mul(this.momentum, buf)) : buf;
        }
        p.assign(tf.sub(p, tf.mul(this.lr, upd)));
      });
    }
  }

  /** Momentum buffer of one variable (for tests and diagnostics). */
  buffer(name: string): tf.Variable | undefined {
    return this.buffers.get(name);
  }

  /** Serialisable state (async: momentum buffers are read with `data()`, WebGPU in Node has no synchronous read). */
  async getState(): Promise<SGDState> {
    const buffers: SGDState['buffers'] = {};
    for (const [n, v] of this.buffers) buffers[n] = { shape: v.shape.slice(), data: Array.from(await v.data()) };
    return { lr: this.lr, momentum: this.momentum, weightDecay: this.weightDecay, nesterov: this.nesterov, buffers };
  }

  setState(s: SGDState): void {
    this.dispose();
    this.lr = s.lr;
    this.momentum = s.momentum;
    this.weightDecay = s.weightDecay;
    this.nesterov = s.nesterov;
    for (const [n, b] of Object.entries(s.buffers)) this.buffers.set(n, tf.variable(tf.tensor(b.data, b.shape, 'float32'), false, `${n}__momentum_buffer`));
  }

  dispose(): void {
    for (const v of this.buffers.values()) v.dispose();
    this.buffers.clear();
  }
}
