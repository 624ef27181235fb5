/**
 * The batch dict batchgenerators transforms operate on, the two kinds of transform, and the Compose that chains them.
 *
 * Batches are values: a transform never writes into the arrays of the batch it is given (the caller may still hold
 * them, e.g. to show "before" next to "after"). An output may share arrays that the transform left unchanged (seg
 * through an intensity transform, data through a seg-only one), so treat outputs as read-only too.
 *
 * A random transform follows TorchIO's split: `draw(batch, rng)` draws every random number the transform needs, in
 * exactly the order and count batchgenerators draws them from its numpy RandomState (parity depends on that), and
 * returns them as a small typed params object, one entry per sample (null where the sample was not augmented).
 * `applyParams(batch, params)` is deterministic and applies exactly those parameters. `apply` = applyParams ∘ draw.
 *
 * Constructors take one options object (issue 27); an omitted option takes the constructor default of batchgenerators
 * (of nnU-Net v1 for its own transforms), as each option type documents. Each transform's doc states its
 * probabilities with nnU-Net v1's values and the line that sets them, as `moreDA.py:N` = S1
 * nnunet/training/data_augmentation/data_augmentation_moreDA.py::get_moreDA_augmentation, line N (line numbers read
 * at MIC-DKFZ/nnUNet 4fdba450, the newest v1 copy at hand; the reference pins S1 at db16c6ce). Values passed as
 * params.get(key) come from default_data_augmentation.py::default_3D_augmentation_params[key] as
 * nnUNetTrainerV2.setup_DA_params leaves them (cascade keys: nnUNetTrainerV2CascadeFullRes.setup_DA_params).
 */
import { RandomState } from '../../util/random';
import { prod } from '../util';

export interface AugBatch {
  /** Image channels, (B, C, ...spatial), float32 C-order. */
  data: Float32Array;
  dataShape: number[];
  /** Label channels, (B, S, ...spatial); null once renamed to `target`. */
  seg: Float32Array | null;
  segShape: number[] | null;
  /** Deep-supervision targets (one per network output), filled by DownsampleSegForDSTransform2. */
  target?: Float32Array[];
  targetShapes?: number[][];
  keys?: string[];
  /** Set by Convert3DTo2DTransform (dummy-2D) and consumed by Convert2DTo3DTransform. */
  origShapeData?: number[];
  origShapeSeg?: number[];
}

export interface Transform {
  readonly name: string;
  /** A new batch; `batch` is not modified. Deterministic transforms ignore `rng`. */
  apply(batch: AugBatch, rng: RandomState): AugBatch;
}

/** Per-sample parameters of a random transform: index b holds sample b's draw, null where it was not augmented. */
export type PerSample<S> = (S | null)[];

/** A transform whose randomness is drawn up front (draw) and applied deterministically (applyParams). */
export abstract class RandomTransform<P> implements Transform {
  abstract readonly name: string;
  /**
   * Draw this transform's parameters for `batch` from `rng`, in batchgenerators' order. Reads only shapes, except
   * where batchgenerators' draws depend on the data (RemoveRandomConnectedComponent...: the number of candidates).
   */
  abstract draw(batch: AugBatch, rng: RandomState): P;
  /** Apply exactly `params` (from draw, or written by hand); a new batch, `batch` is not modified. */
  abstract applyParams(batch: AugBatch, params: P): AugBatch;
  apply(batch: AugBatch, rng: RandomState): AugBatch {
    return this.applyParams(batch, this.draw(batch, rng));
  }
  /** apply, also returning what was drawn (for notebooks, logs and tests). */
  applyRecorded(batch: AugBatch, rng: RandomState): { batch: AugBatch; params: P } {
    const params = this.draw(batch, rng);
    return { batch: this.applyParams(batch, params), params };
  }
}

/** One step of a recorded Compose run: the transform's name and its drawn params (null for deterministic ones). */
export interface RecordedStep {
  name: string;
  params: unknown;
}

/** batchgenerators Compose: transforms in order. */
export class Compose implements Transform {
  readonly name = 'Compose';
  constructor(readonly transforms: Transform[]) {}
  apply(batch: AugBatch, rng: RandomState): AugBatch {
    let b = batch;
    for (const t of this.transforms) b = t.apply(b, rng);
    return b;
  }
  /** apply, also returning each transform's drawn params, in order (same RNG stream, same output). */
  applyRecorded(batch: AugBatch, rng: RandomState): { batch: AugBatch; steps: RecordedStep[] } {
    let b = batch;
    const steps: RecordedStep[] = [];
    for (const t of this.transforms) {
      if (t instanceof RandomTransform) {
        const r = t.applyRecorded(b, rng);
        b = r.batch;
        steps.push({ name: t.name, params: r.params });
      } else {
        b = t.apply(b, rng);
        steps.push({ name: t.name, params: null });
      }
    }
    return { batch: b, steps };
  }
  /** Replay a recorded run without randomness: each random transform gets its recorded params. */
  applyParams(batch: AugBatch, steps: readonly RecordedStep[]): AugBatch {
    if (steps.length !== this.transforms.length) throw new Error(`Compose.applyParams: ${steps.length} steps for ${this.transforms.length} transforms`);
    let b = batch;
    this.transforms.forEach((t, i) => {
      if (steps[i].name !== t.name) throw new Error(`Compose.applyParams: step ${i} is ${steps[i].name}, transform is ${t.name}`);
      b = t instanceof RandomTransform ? t.applyParams(b, steps[i].params) : t.apply(b, new RandomState(0));
    });
    return b;
  }
  /** Transform names in order (for logs and tests). */
  describe(): string[] {
    return this.transforms.map((t) => t.name);
  }
}

/**
 * Every transform constructor takes one options object (issue 27: no values or booleans by position). Type-checked
 * callers cannot pass anything else; this rejects a positional first argument (an array, number or boolean) from
 * untyped callers (plain JS, notebook cells) instead of silently reading it as "all defaults".
 */
export function checkOptions(who: string, o: unknown): void {
  if (o === null || typeof o !== 'object' || Array.isArray(o))
    throw new TypeError(`${who}: pass an options object, not positional arguments (got ${Array.isArray(o) ? 'an array' : o === null ? 'null' : typeof o})`);
}

/** The options actually given: an option passed as `undefined` falls back to its default (as with `??`). */
export function definedOptions<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Number of voxels per channel of a (B, C, ...spatial) shape. */
export function voxelsPerChannel(shape: readonly number[]): number {
  return prod(shape.slice(2));
}

/** Sub-array of one (sample, channel). */
export function channelView(arr: Float32Array, shape: readonly number[], b: number, c: number): Float32Array {
  const n = voxelsPerChannel(shape);
  const off = (b * shape[1] + c) * n;
  return arr.subarray(off, off + n);
}

export function requireSeg(batch: AugBatch, who: string): { seg: Float32Array; segShape: number[] } {
  if (!batch.seg || !batch.segShape) throw new Error(`${who}: the batch has no 'seg' (already renamed to target?)`);
  return { seg: batch.seg, segShape: batch.segShape };
}

/** Per-sample params must cover the batch exactly. */
export function checkPerSample(who: string, params: readonly unknown[], B: number): void {
  if (!Array.isArray(params) || params.length !== B) throw new Error(`${who}: params for ${Array.isArray(params) ? params.length : '?'} samples, batch has ${B}`);
}

/** A private copy of batch.data when any sample is augmented (so the input stays untouched), else the same array. */
export function dataCopyIfAny(batch: AugBatch, params: readonly unknown[]): Float32Array {
  return params.some((p) => p !== null) ? batch.data.slice() : batch.data;
}
