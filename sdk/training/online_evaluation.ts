/**
 * Online validation metric of nnU-Net v1 (S1 nnUNetTrainer.run_online_evaluation / finish_online_evaluation,
 * network_trainer.update_eval_criterion_MA; reference §6.4): argmax of output 0 vs target 0, tp/fp/fn per foreground
 * class summed over all validation batches, global Dice per class, mean over non-NaN classes; moving average 0.9/0.1.
 */
import * as tf from '@tensorflow/tfjs';

export class OnlineEvaluation {
  readonly numClasses: number;
  private tp: number[];
  private fp: number[];
  private fn: number[];
  /** Per-batch foreground Dice 2tp/(2tp+fp+fn+1e-8) (online_eval_foreground_dc). */
  readonly batchForegroundDice: number[][] = [];

  constructor(numClasses: number) {
    if (!(numClasses >= 2)) throw new Error(`OnlineEvaluation: need at least 2 classes, got ${numClasses}`);
    this.numClasses = numClasses;
    this.tp = new Array(numClasses - 1).fill(0);
    this.fp = new Array(numClasses - 1).fill(0);
    this.fn = new Array(numClasses - 1).fill(0);
  }

  /**
   * Add one batch: logits [N, ..., C] (highest-resolution output) and the integer target [N, ...] (or [..., 1]).
   * Async: the label maps are read with `data()` (WebGPU in Node cannot read tensors synchronously).
   */
  async addBatch(logits: tf.Tensor, target: tf.Tensor): Promise<void> {
    const pred = tf.tidy(() => tf.argMax(logits, -1));
    let p: tf.TypedArray, t: tf.TypedArray;
    try {
      p = await pred.data();
      t = await target.data();
    } finally {
      pred.dispose();
    }
    if (p.length !== t.length) throw new Error(`OnlineEvaluation: prediction has ${p.length} voxels, target ${t.length}`);
    this.addLabelMaps(p, t);
  }

  /** Same on plain label maps (prediction already argmax-ed). */
  addLabelMaps(pred: ArrayLike<number>, target: ArrayLike<number>): void {
    const K = this.numClasses - 1;
    const tp = new Array(K).fill(0), fp = new Array(K).fill(0), fn = new Array(K).fill(0);
    for (let i = 0; i < pred.length; i++) {
      const a = pred[i], b = target[i];
      if (a === b) {
        if (a > 0 && a <= K) tp[a - 1]++;
      } else {
        if (a > 0 && a <= K) fp[a - 1]++;
        if (b > 0 && b <= K) fn[b - 1]++;
      }
    }
    for (let c = 0; c < K; c++) {
      this.tp[c] += tp[c];
      this.fp[c] += fp[c];
      this.fn[c] += fn[c];
    }
    this.batchForegroundDice.push(tp.map((x, c) => (2 * x) / (2 * x + fp[c] + fn[c] + 1e-8)));
  }

  /** Global Dice per foreground class (NaN where the class is absent from both) and their mean over non-NaN classes. */
  finish(): { globalDicePerClass: number[]; meanDice: number; tp: number[]; fp: number[]; fn: number[] } {
    const perClass = this.tp.map((x, c) => (2 * x) / (2 * x + this.fp[c] + this.fn[c]));
    const valid = perClass.filter((v) => !Number.isNaN(v));
    const meanDice = valid.length ? valid.reduce((a, b) => a + b, 0) / valid.length : NaN; // np.mean([]) = nan
    return { globalDicePerClass: perClass, meanDice, tp: this.tp.slice(), fp: this.fp.slice(), fn: this.fn.slice() };
  }
}

/** val_eval_criterion_MA (alpha 0.9): first value taken as is, then MA ← α·MA + (1 − α)·metric. */
export class EvalCriterionMovingAverage {
  value: number | null = null;
  constructor(readonly alpha = 0.9) {}
  /** `metric` is the epoch's online Dice; when no metric exists v1 uses −validation loss instead. */
  update(metric: number | null, validationLoss?: number): number {
    const x = metric ?? (validationLoss !== undefined ? -validationLoss : NaN);
    this.value = this.value === null ? x : this.alpha * this.value + (1 - this.alpha) * x;
    return this.value;
  }
}
