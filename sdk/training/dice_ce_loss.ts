/**
 * nnU-Net v1 loss (S1 training/loss_functions/dice_loss.py::SoftDiceLoss, DC_and_CE_loss; crossentropy.py;
 * deep_supervision.py::MultipleOutputLoss2; reference §6.1–6.2) on tfjs tensors.
 * Logits are channels-last [N, Z, Y, X, C] or [N, Y, X, C]; targets are integer label maps [N, Z, Y, X] (or with a
 * trailing 1 channel). Returns scalar tensors so gradients flow (tf.variableGrads / tf.grads).
 */
import * as tf from '@tensorflow/tfjs';

export interface SoftDiceOptions {
  /** Sum tp/fp/fn over the batch axis too (plans: 2d and multi-stage 3d_fullres / cascade). */
  batchDice: boolean;
  /** Include the background class in the mean (nnU-Net: false). */
  doBg?: boolean;
  /** nnU-Net: 1e-5. */
  smooth?: number;
}

/** Drop a trailing singleton channel and cast to int32. */
function targetLabels(target: tf.Tensor, logits: tf.Tensor): tf.Tensor {
  let t = target;
  if (t.rank === logits.rank && t.shape[t.rank - 1] === 1) t = t.squeeze([t.rank - 1]);
  if (t.rank !== logits.rank - 1) throw new Error(`loss: target shape [${target.shape}] does not match logits [${logits.shape}]`);
  for (let i = 0; i < t.rank; i++)
    if (t.shape[i] !== logits.shape[i]) throw new Error(`loss: target shape [${target.shape}] does not match logits [${logits.shape}]`);
  return t.dtype === 'int32' ? t : t.toInt();
}

function oneHotLike(target: tf.Tensor, logits: tf.Tensor): tf.Tensor {
  const C = logits.shape[logits.rank - 1];
  const lab = targetLabels(target, logits);
  const flat = lab.reshape([-1]) as tf.Tensor1D;
  return tf.oneHot(flat, C).toFloat().reshape(logits.shape);
}

/**
 * SoftDiceLoss(apply_nonlin=softmax, batch_dice, do_bg=False, smooth=1e-5): p = softmax(logits); tp = Σ p·y,
 * fp = Σ p·(1−y), fn = Σ (1−p)·y over spatial axes (and batch if batchDice); dc = (2tp + s)/(2tp + fp + fn + s + 1e-8);
 * loss = −mean(dc) over the kept classes (and samples).
 */
export function softDiceLoss(logits: tf.Tensor, target: tf.Tensor, o: SoftDiceOptions): tf.Scalar {
  const smooth = o.smooth ?? 1e-5;
  const doBg = o.doBg ?? false;
  return tf.tidy(() => {
    const p = tf.softmax(logits, -1);
    const y = oneHotLike(target, logits);
    const r = logits.rank;
    const spatial = Array.from({ length: r - 2 }, (_, i) => i + 1);
    const axes = o.batchDice ? [0, ...spatial] : spatial;
    const tp = tf.sum(tf.mul(p, y), axes);
    const fp = tf.sum(tf.mul(p, tf.sub(1, y)), axes);
    const fn = tf.sum(tf.mul(tf.sub(1, p), y), axes);
    const nom = tf.add(tf.mul(2, tp), smooth);
    const den = tf.add(tf.add(tf.add(tf.mul(2, tp), fp), fn), smooth);
    let dc = tf.div(nom, tf.add(den, 1e-8));
    if (!doBg) {
      const C = logits.shape[r - 1];
      dc = o.batchDice ? dc.slice([1], [C - 1]) : dc.slice([0, 1], [-1, C - 1]);
    }
    return tf.neg(tf.mean(dc)) as tf.Scalar;
  });
}

/** nn.CrossEntropyLoss on logits with integer targets, mean over all voxels and samples. */
export function crossEntropyLoss(logits: tf.Tensor, target: tf.Tensor): tf.Scalar {
  return tf.tidy(() => {
    const y = oneHotLike(target, logits);
    const lsm = tf.logSoftmax(logits, -1);
    return tf.neg(tf.mean(tf.sum(tf.mul(y, lsm), -1))) as tf.Scalar;
  });
}

export interface DCAndCEOptions extends SoftDiceOptions {
  weightCe?: number;
  weightDice?: number;
}

/** DC_and_CE_loss, aggregate "sum": weight_ce·CE + weight_dice·SoftDice (weights 1 and 1). */
export function dcAndCeLoss(logits: tf.Tensor, target: tf.Tensor, o: DCAndCEOptions): tf.Scalar {
  const wCe = o.weightCe ?? 1;
  const wDc = o.weightDice ?? 1;
  return tf.tidy(() => {
    const dc = wDc !== 0 ? softDiceLoss(logits, target, o) : tf.scalar(0);
    const ce = wCe !== 0 ? crossEntropyLoss(logits, target) : tf.scalar(0);
    return tf.add(tf.mul(wCe, ce), tf.mul(wDc, dc)) as tf.Scalar;
  });
}

/**
 * Deep-supervision weights (nnUNetTrainerV2.initialize): w_i = 1/2^i, the lowest-resolution output masked to 0,
 * normalised to sum 1 (reference A.5).
 */
export function deepSupervisionWeights(numOutputs: number): number[] {
  if (!(numOutputs >= 1)) throw new Error(`deepSupervisionWeights: need at least one output, got ${numOutputs}`);
  const w = Array.from({ length: numOutputs }, (_, i) => (i < numOutputs - 1 ? 1 / 2 ** i : 0));
  const s = w.reduce((a, b) => a + b, 0);
  if (s === 0) return [1]; // a single output: weights [1] / 1 would be 0/0 in numpy; use the plain loss
  return w.map((v) => v / s);
}

/** MultipleOutputLoss2: Σ w_i·loss(output_i, target_i), terms with w_i = 0 skipped (except the first). */
export function multipleOutputLoss(
  outputs: readonly tf.Tensor[],
  targets: readonly tf.Tensor[],
  weights: readonly number[],
  loss: (logits: tf.Tensor, target: tf.Tensor) => tf.Scalar,
): tf.Scalar {
  if (outputs.length !== targets.length)
    throw new Error(`multipleOutputLoss: ${outputs.length} outputs but ${targets.length} targets`);
  if (weights.length < outputs.length) throw new Error(`multipleOutputLoss: ${weights.length} weights for ${outputs.length} outputs`);
  return tf.tidy(() => {
    let l = tf.mul(weights[0], loss(outputs[0], targets[0]));
    for (let i = 1; i < outputs.length; i++) if (weights[i] !== 0) l = tf.add(l, tf.mul(weights[i], loss(outputs[i], targets[i])));
    return l as tf.Scalar;
  });
}

/**
 * batch_dice of run/default_configuration.py: (network == '2d' or the plans have more than one stage) and not
 * '3d_lowres'. Hippocampus (one stage): 2d true, 3d_fullres false; Lung: 2d, 3d_fullres, cascade true, 3d_lowres false.
 */
export function batchDiceForConfiguration(network: string, numStages: number): boolean {
  return (network === '2d' || numStages > 1) && network !== '3d_lowres';
}
