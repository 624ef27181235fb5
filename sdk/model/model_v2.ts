/**
 * An official nnU-Net v2 model folder (`<trainer>__<plans>__<configuration>` with fold_k/checkpoint_final.pth,
 * plans.json, dataset.json) loaded for prediction from raw images (issue 22). `Model.load` returns one of these for
 * a v2 folder (or a v2 model imported with `import-model`); it has the same predict / predictFolder / dispose API as
 * the v1 `Model`. Prediction follows nnUNetv2_predict (sdk/model/v2_predict.ts): v2 preprocessing (normalize, then
 * resample), v2 sliding window (averaged float16 logits, mirroring over the checkpoint's
 * inference_allowed_mirroring_axes), logits resampled to the original spacing, then softmax / argmax, un-cropped.
 * nnUNetv2_predict applies no postprocessing (that is nnUNetv2_apply_postprocessing's job): neither does this.
 *
 * A cascade stage (3d_cascade_fullres: `previous_stage` in its configuration) loads its previous stage's model too
 * (`<trainer>__<plans>__3d_lowres` next to it, or `previousStage`) and predicts each case with it first, as running
 * `nnUNetv2_predict -c 3d_lowres` and then `-c 3d_cascade_fullres -prev_stage_predictions` does; or it reads those
 * predictions from a folder (`previousStagePredictions`, as `-prev_stage_predictions`).
 */
import * as fs from 'fs';
import * as path from 'path';
import { readNiftiChannels, niftiBaseName, writeNifti } from '../io/nifti';
import { writeNpy } from '../io/npy';
import type { Volume } from '../io/volume';
import type { ClassProbabilities } from '../inference/sliding_window';
import { checkChannels, listInputCases, loadInputCase, readPreviousStageSegmentation, type PredictInputCase } from '../inference/input_cases';
import { PredictionError, PredictionResult, type CaseStatus } from '../inference/predict';
import { progress } from '../util/progress';
import { loadV2Model, type V2Model } from './v2';
import { predictCaseV2 } from './v2_predict';
import { ModelImportError } from './errors';

export interface ModelV2LoadOptions {
  folds?: (number | 'all')[];
  /** v2 checkpoint file name (default checkpoint_final.pth; checkpoint_best.pth, checkpoint_latest.pth) */
  checkpoint?: string;
  allowOtherTrainer?: boolean;
  /** a cascade stage's previous-stage model folder (default: `<trainer>__<plans>__<previous_stage>` next to it) */
  previousStage?: string;
}

export interface ModelV2PredictOptions {
  /** also return the softmax probabilities ((C, Z, Y, X) float32 in the input's geometry, background 1 outside the crop) */
  probabilities?: boolean;
  /** mirroring TTA (default true, as nnUNetv2_predict without --disable_tta) */
  mirroring?: boolean;
  stepSize?: number;
  outputDir?: string;
  id?: string;
  progress?: boolean;
  /**
   * A cascade stage: read the previous stage's segmentation of each case from `<folder>/<case>.nii.gz` (as
   * nnUNetv2_predict's -prev_stage_predictions) instead of predicting it with the previous-stage model.
   */
  previousStagePredictions?: string;
}

export interface ModelV2Prediction {
  id: string;
  segmentation: Volume<Uint8Array>;
  /** softmax, float32 (C, Z, Y, X) in the input's geometry, when asked */
  probabilities?: ClassProbabilities;
  files?: { segmentation: string; probabilities?: string };
  seconds: number;
  timings: { preprocess_s: number; predict_s: number; export_s: number };
}

export class ModelV2 {
  readonly format = 'nnunet-v2' as const;
  /** nnUNetv2_predict applies none */
  readonly postprocessing = null;
  private disposed = false;

  private constructor(
    readonly dir: string,
    readonly v2: V2Model,
    /** a cascade stage's previous-stage model (its 3d_lowres), predicted first */
    readonly previousStage: ModelV2 | null = null,
  ) {}

  static load(dir: string, opts: ModelV2LoadOptions = {}): ModelV2 {
    const v2 = loadV2Model(dir, opts);
    const prevName = v2.configuration.previous_stage;
    if (!prevName) return new ModelV2(path.resolve(dir), v2);
    const f = v2.folder;
    const lowDir = opts.previousStage ? path.resolve(opts.previousStage) : path.join(path.dirname(f.dir), `${f.trainer}__${f.plansName}__${prevName}`);
    let low: ModelV2 | null = null;
    try {
      if (!fs.existsSync(lowDir)) {
        throw new ModelImportError(
          `${f.dir}: the cascade stage '${f.configuration}' predicts with its '${prevName}' model first, which is not at ${lowDir} (give its folder as previousStage / --previous-stage)`,
        );
      }
      low = ModelV2.load(lowDir, { folds: opts.folds, checkpoint: opts.checkpoint, allowOtherTrainer: opts.allowOtherTrainer });
      if (low.configuration !== prevName) throw new ModelImportError(`${lowDir}: is a '${low.configuration}' model; the cascade ${f.dir} needs its '${prevName}' model`);
      if (low.numClasses !== v2.architecture.numClasses) throw new ModelImportError(`${lowDir}: has ${low.numClasses} classes, the cascade ${f.dir} ${v2.architecture.numClasses}`);
    } catch (e) {
      low?.dispose();
      for (const n of v2.networks) n.dispose();
      throw e;
    }
    return new ModelV2(path.resolve(dir), v2, low);
  }

  get trainer(): string {
    return this.v2.trainer;
  }
  get plansName(): string {
    return this.v2.folder.plansName;
  }
  get configuration(): string {
    return this.v2.folder.configuration;
  }
  get folds(): string[] {
    return this.v2.folder.folds.map((f) => f.fold);
  }
  get numClasses(): number {
    return this.v2.architecture.numClasses;
  }
  get numInputChannels(): number {
    return this.v2.configuration.normalization_schemes.length;
  }

  describe(): string {
    const c = this.v2.configuration;
    return [
      `${this.format} model ${this.trainer}__${this.plansName}__${this.configuration}, folds ${this.folds.join(', ')}`,
      ...(this.previousStage ? [`previous stage: ${this.previousStage} (predicted first; its segmentation is ${this.v2.labels.foregroundLabels.length} one-hot input channel(s))`] : []),
      ...(this.v2.labels.regions ? [`regions ${JSON.stringify(this.v2.labels.regions)} (sigmoid outputs), painted as labels ${JSON.stringify(this.v2.labels.regionsClassOrder)}`] : []),
      `${this.v2.architecture.kind}, patch ${c.patch_size.join('x')}, spacing ${c.spacing.join('x')}, ${this.numInputChannels} channel(s), ${this.numClasses} classes, ` +
        `normalization ${c.normalization_schemes.join(', ')}, mirroring axes [${this.v2.mirrorAxes}]`,
      `stages: features [${this.v2.architecture.featuresPerStage}], strides ${JSON.stringify(this.v2.architecture.strides)}, ` +
        `${this.v2.architecture.kind === 'PlainConvUNet' ? 'convs' : 'residual blocks'} per stage [${this.v2.architecture.nPerStage}], ` +
        `${this.v2.architecture.params.reduce((a, p) => a + p.shape.reduce((x, y) => x * y, 1), 0)} parameters`,
    ].join('\n');
  }

  toString(): string {
    return `Model(${this.format} ${this.trainer}__${this.plansName}__${this.configuration}, folds ${this.folds.join(', ')}${this.previousStage ? `, after ${this.previousStage.configuration}` : ''})`;
  }

  private check(): void {
    if (this.disposed) throw new Error(`${this}: used after dispose()`);
  }

  /** Predict one case: a NIfTI file (3D or 4D), or its channel volumes. */
  async predict(input: string | Volume | Volume[], opts: ModelV2PredictOptions = {}): Promise<ModelV2Prediction> {
    this.check();
    const t0 = Date.now();
    let images: Volume[];
    let id = opts.id;
    if (typeof input === 'string') {
      images = await readNiftiChannels(input);
      id ??= niftiBaseName(input).replace(/_\d{4}$/, '');
    } else images = Array.isArray(input) ? input : [input];
    id ??= 'case';
    checkChannels(id, images, this.numInputChannels);
    const previousStage = await this.previousStageSegmentation(id, images, opts);
    const r = await predictCaseV2(this.v2, images, { id, mirroring: opts.mirroring, stepSize: opts.stepSize, probabilities: opts.probabilities, previousStage });
    const files = opts.outputDir ? await this.write(opts.outputDir, id, r.segmentation, r.probabilities) : undefined;
    const probabilities = r.probabilities ? { data: r.probabilities, shape: [this.numClasses, ...r.segmentation.shape] as [number, number, number, number] } : undefined;
    return { id, segmentation: r.segmentation, probabilities, files, seconds: (Date.now() - t0) / 1000, timings: r.timings };
  }

  /** A cascade stage's previous-stage segmentation of one case (input geometry), predicted or read from a folder. */
  private async previousStageSegmentation(id: string, images: readonly Volume[], opts: Pick<ModelV2PredictOptions, 'mirroring' | 'stepSize' | 'previousStagePredictions'>): Promise<Uint8Array | undefined> {
    if (!this.v2.configuration.previous_stage) {
      if (opts.previousStagePredictions) throw new Error(`${this}: not a cascade stage, previousStagePredictions does not apply`);
      return undefined;
    }
    if (opts.previousStagePredictions) {
      const v = await readPreviousStageSegmentation(opts.previousStagePredictions, id, images[0]);
      return Uint8Array.from(v.data as ArrayLike<number>);
    }
    const low = await predictCaseV2(this.previousStage!.v2, images, { id, mirroring: opts.mirroring, stepSize: opts.stepSize });
    return low.segmentation.data;
  }

  private async write(dir: string, id: string, seg: Volume<Uint8Array>, probs?: Float32Array): Promise<{ segmentation: string; probabilities?: string }> {
    fs.mkdirSync(dir, { recursive: true });
    const segmentation = path.join(dir, `${id}.nii.gz`);
    await writeNifti(segmentation, seg, { dtype: 'uint8' });
    let probabilities: string | undefined;
    if (probs) {
      // nnUNetv2_predict --save_probabilities writes <case>.npz ('probabilities', float32, (C, z, y, x)); here .npy
      probabilities = path.join(dir, `${id}.npy`);
      await writeNpy(probabilities, probs, [this.numClasses, ...seg.shape]);
    }
    return { segmentation, probabilities };
  }

  /** Predict every case of a folder (`<case>_0000.nii.gz` or `<case>.nii.gz`) into `outputDir` (nnUNetv2_predict). */
  async predictFolder(
    input: string | PredictInputCase[],
    outputDir: string,
    opts: Omit<ModelV2PredictOptions, 'outputDir' | 'id'> & { caseIds?: string[] } = {},
  ): Promise<PredictionResult> {
    this.check();
    const nch = this.numInputChannels;
    const inputs: { id: string; load: () => Promise<Volume[]> }[] = [];
    if (typeof input === 'string') {
      let cases = listInputCases(input);
      if (opts.caseIds) {
        const missing = opts.caseIds.filter((id) => !cases.some((c) => c.id === id));
        if (missing.length) throw new Error(`${input}: no input files for case(s) ${missing.join(', ')}`);
        cases = cases.filter((c) => opts.caseIds!.includes(c.id));
      }
      if (cases.length === 0) throw new Error(`${input}: no .nii.gz cases found`);
      for (const c of cases) inputs.push({ id: c.id, load: () => loadInputCase(c, nch) });
    } else {
      for (const c of input) inputs.push({ id: c.id, load: async () => (checkChannels(c.id, c.images, nch), c.images) });
    }
    fs.mkdirSync(outputDir, { recursive: true });
    const statuses: CaseStatus[] = [];
    const bar = opts.progress ? progress(`predict ${this.configuration} (v2)`, inputs.length) : null;
    for (const inp of inputs) {
      const t0 = Date.now();
      try {
        const images = await inp.load();
        const previousStage = await this.previousStageSegmentation(inp.id, images, opts);
        const r = await predictCaseV2(this.v2, images, { id: inp.id, mirroring: opts.mirroring, stepSize: opts.stepSize, probabilities: opts.probabilities, previousStage });
        const te = performance.now();
        const f = await this.write(outputDir, inp.id, r.segmentation, r.probabilities);
        const timings = { ...r.timings, export_s: r.timings.export_s + (performance.now() - te) / 1000 };
        statuses.push({ id: inp.id, ok: true, file: f.segmentation, probabilities: f.probabilities, seconds: (Date.now() - t0) / 1000, timings });
      } catch (e) {
        const msg = (e as Error).message;
        statuses.push({ id: inp.id, ok: false, error: msg.includes(inp.id) ? msg : `case ${inp.id}: ${msg}`, seconds: (Date.now() - t0) / 1000 });
      }
      bar?.tick(1, inp.id);
    }
    bar?.done();
    const result = new PredictionResult(outputDir, this.configuration, this.folds, statuses, null);
    if (result.failed.length) throw new PredictionError(result);
    return result;
  }

  dispose(): void {
    if (this.disposed) return;
    this.previousStage?.dispose();
    for (const n of this.v2.networks) n.dispose();
    this.disposed = true;
  }
}
