/**
 * `Model`: a trained model loaded for prediction, from an official nnU-Net v1 model folder (issue 22). A v2 model
 * folder loads as a `ModelV2` (model_v2.ts) with the same predict / predictFolder / dispose.
 *
 *   const model = await Model.load('.../nnUNetTrainerV2__nnUNetPlansv2.1');   // or a fold_k folder
 *   const { segmentation, probabilities } = await model.predict('case.nii.gz', { probabilities: true });
 *   await model.predictFolder(inputDir, outputDir);                            // like predict_simple
 *   model.dispose();
 *
 * Prediction goes through sdk/inference/predict.ts (the same code as models trained here): test-time preprocessing
 * with the model's own plans, Gaussian sliding window with mirroring TTA, fold averaging, export to the input's
 * geometry, postprocessing.json applied.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { readNifti, readNiftiChannels, niftiBaseName } from '../io/nifti';
import type { Volume } from '../io/volume';
import { describeNetwork, NetworkArchitecture, parameterCount } from '../network/architecture';
import type { GenericUNet } from '../network/generic_unet';
import { Plans, resolveConfiguration } from '../planning/plans';
import type { PlansConfiguration } from '../planning/plans';
import { PostprocessingJson } from '../postprocessing/connected_components';
import { readPostprocessingJson } from '../postprocessing/determine';
import { loadProbabilities } from '../inference/export_files';
import type { ClassProbabilities } from '../inference/sliding_window';
import { predictCases, PredictInputCase, PredictionResult } from '../inference/predict';
import type { RootOptions } from '../paths';
import { isV2ModelFolder } from './v2';
import { ModelV2 } from './model_v2';
import { findModelFolders, findV2ModelFolders, modelFilesToCopy, modelFolderOf, modelStore, PREVIOUS_STAGE_FOLDER, unpackModelZip, writeStoreEntry } from './import';
import {
  findV1ModelFolder,
  isV1CascadeTrainer,
  loadV1Network,
  ModelImportError,
  readV1CheckpointInfo,
  SUPPORTED_V1_TRAINERS,
  v1Architecture,
  v1PlansToPlansJSON,
  v1PreviousTrainer,
  v1Stage,
  type V1CheckpointInfo,
  type V1ModelFolder,
  type V1PlansPickle,
} from './v1';

/**
 * Where official v1 keeps a cascade's 3d_lowres model: `<results>/nnUNet/3d_lowres/<task>/<previous trainer>__<plans>`,
 * the cascade being `<results>/nnUNet/3d_cascade_fullres/<task>/<trainer>__<plans>` (predict_simple.py).
 */
export function officialLowresFolder(cascade: V1ModelFolder, info: V1CheckpointInfo): string {
  const task = path.dirname(cascade.modelDir);
  return path.join(path.dirname(path.dirname(task)), '3d_lowres', path.basename(task), `${v1PreviousTrainer(info)}__${cascade.plansName || 'nnUNetPlansv2.1'}`);
}

export interface ModelLoadOptions {
  /** folds to use (default: every fold_k with the checkpoint) */
  folds?: (number | 'all')[];
  /** v1 checkpoint name (default model_final_checkpoint; model_best, model_latest) */
  checkpoint?: string;
  /** accept a trainer other than nnUNetTrainerV2 (its prediction is assumed to be nnUNetTrainerV2's) */
  allowOtherTrainer?: boolean;
  /**
   * Postprocessing: true (default) = `<model folder>/postprocessing.json` when it exists, exactly where official v1
   * prediction looks (a fold folder's postprocessing.json is not applied, as in v1); false = none; a file path.
   */
  postprocessing?: boolean | string;
  /**
   * A 3d_cascade_fullres model's 3d_lowres model folder. Default: the imported model's copy, else the official
   * results layout `<results>/nnUNet/3d_lowres/<task>/<previous trainer>__<plans>` next to the cascade's folder.
   */
  previousStage?: string;
}

export interface ImportModelOptions extends RootOptions {
  /** name in the store (default `<task folder>_<configuration>`) */
  name?: string;
  /** the store (default `<nnUNet_results>/imported_models`) */
  modelsDir?: string;
  /** which model of a folder/zip holding several (the v1 network folder name: 2d, 3d_fullres, ...) */
  configuration?: string;
  checkpoint?: string;
  /** replace an imported model of the same name */
  overwrite?: boolean;
  allowOtherTrainer?: boolean;
  /** a 3d_cascade_fullres model's 3d_lowres model folder, when it is not where the official layout puts it */
  previousStage?: string;
}

export interface ModelPredictOptions {
  /** also return the class probabilities (float16-rounded, (C, Z, Y, X) at the cropped image size, as v1's .npz) */
  probabilities?: boolean;
  /** mirroring TTA (default true, as official prediction) */
  mirroring?: boolean;
  stepSize?: number;
  /** keep the written files here (default: a temporary folder, removed) */
  outputDir?: string;
  /** case id (default: from the file name, or 'case') */
  id?: string;
  progress?: boolean;
  /** extra wasm instances predicting tiles in parallel (predictCases' tileWorkers; default 'auto') */
  tileWorkers?: number | 'auto';
}

export interface ModelPrediction {
  id: string;
  /** uint8 label map in the input's geometry, postprocessed */
  segmentation: Volume<Uint8Array>;
  /** when asked: softmax before postprocessing, float16-rounded, (C, Z, Y, X) at size_after_cropping */
  probabilities?: ClassProbabilities;
  /** written files when `outputDir` was given */
  files?: { segmentation: string; probabilities?: string };
  seconds: number;
}

export class Model {
  private disposed = false;

  private constructor(
    /** where it was loaded from */
    readonly dir: string,
    readonly format: 'nnunet-v1',
    readonly trainer: string,
    readonly plansName: string,
    /** '2d', '3d_lowres', '3d_fullres' or '3d_cascade_fullres' */
    readonly configuration: string,
    /** the model's plans in nnunet-ts's schema (one configuration) */
    readonly plans: Plans,
    /** the plans as pickled by the official trainer (numpy values plain) */
    readonly originalPlans: V1PlansPickle,
    readonly folds: string[],
    readonly networks: GenericUNet[],
    readonly postprocessing: PostprocessingJson | null,
    readonly postprocessingFile: string | null,
    /** the `<trainer>__<plans>` folder (plans.pkl, fold_k/) */
    readonly modelFolder: string,
    /** a 3d_cascade_fullres model's 3d_lowres model: predicted first, its segmentation is the cascade's extra input */
    readonly previousStage: Model | null = null,
  ) {}

  /**
   * Load an nnU-Net v1 model folder (`<trainer>__<plans>` with fold_k/, or one fold folder), an nnU-Net v2 model
   * folder (`<trainer>__<plans>__<configuration>` with plans.json, dataset.json, fold_k/checkpoint_final.pth: returns a
   * ModelV2, same predict API, v2's pipeline), or a model imported with `Model.import` / `nnunet-ts import-model`
   * (its folder in the store).
   */
  static async load(dir: string, opts: ModelLoadOptions = {}): Promise<Model | ModelV2> {
    const abs = path.resolve(dir);
    const { folder: modelDir, manifest } = modelFolderOf(abs);
    // a cascade's previous stage as the store keeps it (the folder import-model copied next to it)
    const storedPreviousStage = manifest?.previous_stage ? path.resolve(abs, manifest.previous_stage) : undefined;
    const v2Checkpoint = opts.checkpoint?.endsWith('.pth') ? opts.checkpoint : 'checkpoint_final.pth';
    // a v2 folder (plans.json + dataset.json, here or above a fold folder) even when the asked checkpoint is missing:
    // the v2 loader then names the missing fold_k/<checkpoint>
    const v2Files = (d: string) => fs.existsSync(path.join(d, 'plans.json')) && fs.existsSync(path.join(d, 'dataset.json')) && !fs.existsSync(path.join(d, 'plans.pkl'));
    const looksV2 = isV2ModelFolder(modelDir, v2Checkpoint) || v2Files(modelDir) || (/^fold_(\d+|all)$/.test(path.basename(modelDir)) && v2Files(path.dirname(modelDir)));
    if (manifest?.format === 'nnunet-v2' || (!manifest && looksV2)) {
      // v2: its own preprocessing (normalize before resampling) and export (resample logits, then softmax)
      return ModelV2.load(manifest ? modelDir : abs, {
        folds: opts.folds,
        checkpoint: manifest?.checkpoint ?? v2Checkpoint,
        allowOtherTrainer: opts.allowOtherTrainer,
        previousStage: opts.previousStage ?? storedPreviousStage,
      });
    }
    const folder = findV1ModelFolder(modelDir, { ...opts, checkpoint: opts.checkpoint ?? manifest?.checkpoint });
    // official prediction rebuilds the trainer from the first fold's .model.pkl: its plans and stage decide
    const info = readV1CheckpointInfo(folder.folds[0].info);
    const trainer = info.name;
    if (!opts.allowOtherTrainer && !(SUPPORTED_V1_TRAINERS as readonly string[]).includes(trainer)) {
      throw new ModelImportError(
        `${folder.folds[0].info}: trainer '${trainer}' is not supported (${SUPPORTED_V1_TRAINERS.join(', ')}); pass allowOtherTrainer to predict as nnUNetTrainerV2 would`,
      );
    }
    const { stage, configuration } = v1Stage(info.plans, info.init, folder.folds[0].info, trainer);
    const cascade = configuration === '3d_cascade_fullres';
    const taskName = path.basename(path.dirname(folder.modelDir)) || 'imported';
    const json = v1PlansToPlansJSON(info.plans, {
      stage,
      configuration,
      datasetName: taskName,
      plansName: folder.plansName || 'nnUNetPlansv2.1',
      batchDice: typeof info.init[4] === 'boolean' ? info.init[4] : undefined,
      file: folder.folds[0].info,
    });
    const arch = v1Architecture(info.plans, stage, cascade);
    const networks: GenericUNet[] = [];
    try {
      for (const f of folder.folds) {
        if (f !== folder.folds[0]) {
          // every fold must be the same network (v1 loads all folds into the first fold's trainer)
          const other = readV1CheckpointInfo(f.info);
          const s2 = v1Stage(other.plans, other.init, f.info, other.name);
          const a2 = v1Architecture(other.plans, s2.stage, isV1CascadeTrainer(other.name));
          if (parameterCount(a2) !== parameterCount(arch) || JSON.stringify(a2.params) !== JSON.stringify(arch.params)) {
            throw new ModelImportError(`${f.info}: this fold's network differs from ${folder.folds[0].info}'s`);
          }
        }
        networks.push(loadV1Network(f.checkpoint, arch));
      }
    } catch (e) {
      for (const n of networks) n.dispose();
      throw e;
    }
    let previousStage: Model | null = null;
    if (cascade) {
      const lowDir = opts.previousStage ? path.resolve(opts.previousStage) : (storedPreviousStage ?? officialLowresFolder(folder, info));
      try {
        previousStage = await Model.loadPreviousStage(lowDir, folder, arch.numClasses, opts, manifest?.checkpoint);
      } catch (e) {
        for (const n of networks) n.dispose();
        throw e;
      }
    }
    const ppOpt = opts.postprocessing ?? true;
    const ppFile = ppOpt === false ? null : typeof ppOpt === 'string' ? path.resolve(ppOpt) : folder.postprocessingFile;
    const pp = ppFile ? readPostprocessingJson(ppFile) : null;
    return new Model(
      abs,
      'nnunet-v1',
      trainer,
      folder.plansName,
      configuration,
      new Plans(json),
      info.plans,
      folder.folds.map((f) => f.fold),
      networks,
      pp,
      ppFile,
      folder.modelDir,
      previousStage,
    );
  }

  /** A cascade's 3d_lowres model, checked to be one (v1 predict_simple runs it with the cascade's folds setting). */
  private static async loadPreviousStage(lowDir: string, cascade: V1ModelFolder, numClasses: number, opts: ModelLoadOptions, checkpoint?: string): Promise<Model> {
    if (!fs.existsSync(lowDir)) {
      throw new ModelImportError(
        `${cascade.modelDir}: a 3d_cascade_fullres model predicts with its 3d_lowres model first, which is not at ${lowDir} ` +
          `(official layout: <results>/nnUNet/3d_lowres/<task>/<trainer>__<plans>; give its folder as previousStage / --previous-stage)`,
      );
    }
    const low = await Model.load(lowDir, { folds: opts.folds, checkpoint: opts.checkpoint ?? checkpoint, allowOtherTrainer: opts.allowOtherTrainer });
    const fail = (msg: string): never => {
      low.dispose();
      throw new ModelImportError(`${lowDir}: ${msg}`);
    };
    if (!(low instanceof Model)) fail(`an nnU-Net v2 model cannot be the previous stage of the v1 cascade ${cascade.modelDir}`);
    const m = low as Model;
    if (m.configuration !== '3d_lowres') fail(`is a ${m.configuration} model; the cascade ${cascade.modelDir} needs its 3d_lowres model`);
    if (m.numClasses !== numClasses) fail(`has ${m.numClasses} classes, the cascade ${cascade.modelDir} ${numClasses}`);
    return m;
  }

  /**
   * Import an official model (v1 model folder, fold folder, or .zip as distributed) into the model store
   * (`<nnUNet_results>/imported_models/<name>` unless `modelsDir`): it is loaded completely first, so a broken model
   * is refused and nothing is written. Returns the store entry's folder (for `Model.load`) and the model's name.
   */
  static async import(src: string, opts: ImportModelOptions = {}): Promise<{ name: string; dir: string; model: string }> {
    const abs = path.resolve(src);
    if (!fs.existsSync(abs)) throw new ModelImportError(`${abs}: not found`);
    const checkpoint = opts.checkpoint ?? 'model_final_checkpoint';
    const isZip = fs.statSync(abs).isFile();
    if (isZip && !/\.zip$/i.test(abs)) throw new ModelImportError(`${abs}: give a model folder or a .zip`);
    const root = isZip ? unpackModelZip(abs) : abs;
    try {
      const v2 = findV2ModelFolders(root, 'checkpoint_final.pth');
      if (v2.length) return await Model.importV2(abs, root, v2, opts);
      let candidates = findModelFolders(root, checkpoint);
      let folds: string[] | undefined;
      if (candidates.length === 1 && candidates[0] === root && fs.existsSync(path.join(root, `${checkpoint}.model.pkl`))) {
        // one fold folder: import that fold of its model folder
        folds = [path.basename(root)];
        candidates = [path.dirname(root)];
      }
      if (opts.configuration) candidates = candidates.filter((c) => path.basename(path.dirname(path.dirname(c))) === opts.configuration || c.includes(`${path.sep}${opts.configuration}${path.sep}`));
      if (candidates.length === 0) throw new ModelImportError(`${abs}: no nnU-Net v1 model folder (fold_k/${checkpoint}.model + .pkl)${opts.configuration ? ` for configuration ${opts.configuration}` : ''}`);
      if (candidates.length > 1) {
        throw new ModelImportError(`${abs}: holds ${candidates.length} models, choose one with --configuration: ${candidates.map((c) => path.relative(root, c)).join(', ')}`);
      }
      const folder = candidates[0];
      const foldNums = folds?.map((f) => (f === 'all' ? 'all' : Number(f.replace('fold_', ''))));
      const model = await Model.load(folds ? path.join(folder, folds[0]) : folder, {
        checkpoint,
        folds: foldNums as (number | 'all')[] | undefined,
        allowOtherTrainer: opts.allowOtherTrainer,
        previousStage: opts.previousStage,
      });
      try {
        const task = path.basename(path.dirname(folder));
        const name = opts.name ?? `${task}_${model.configuration}`.replace(/[^\w.-]/g, '_');
        const files = modelFilesToCopy(folder, checkpoint, folds);
        // a cascade carries its 3d_lowres model (the folds it was loaded with)
        const low = model instanceof Model ? model.previousStage : null;
        const also = low
          ? [{ folder: low.modelFolder, files: modelFilesToCopy(low.modelFolder, checkpoint, low.folds), to: PREVIOUS_STAGE_FOLDER }]
          : [];
        const dir = writeStoreEntry(
          modelStore(opts),
          name,
          folder,
          files,
          {
            format: 'nnunet-v1',
            name,
            configuration: model.configuration,
            trainer: model.trainer,
            plans: model.plansName,
            folds: model.folds,
            checkpoint,
            source: abs,
            imported_at: new Date().toISOString(),
            ...(low ? { previous_stage: path.join(PREVIOUS_STAGE_FOLDER, path.basename(low.modelFolder)) } : {}),
          },
          Boolean(opts.overwrite),
          also,
        );
        return { name, dir, model: String(model) };
      } finally {
        model.dispose();
      }
    } finally {
      if (isZip) fs.rmSync(root, { recursive: true, force: true });
    }
  }

  /** import of a v2 model folder (or one of its fold folders) found under `root` */
  private static async importV2(src: string, root: string, candidates: string[], opts: ImportModelOptions): Promise<{ name: string; dir: string; model: string }> {
    let folds: string[] | undefined;
    let c = candidates;
    if (c.length === 1 && fs.existsSync(path.join(c[0], 'checkpoint_final.pth'))) {
      folds = [path.basename(c[0])];
      c = [path.dirname(c[0])];
    }
    if (opts.configuration) c = c.filter((d) => path.basename(d).split('__')[2] === opts.configuration);
    if (c.length === 0) throw new ModelImportError(`${src}: no nnU-Net v2 model folder${opts.configuration ? ` for configuration ${opts.configuration}` : ''}`);
    if (c.length > 1) throw new ModelImportError(`${src}: holds ${c.length} models, choose one with --configuration: ${c.map((d) => path.relative(root, d)).join(', ')}`);
    const folder = c[0];
    const foldNums = folds?.map((f) => (f === 'fold_all' ? 'all' : Number(f.replace('fold_', '')))) as (number | 'all')[] | undefined;
    const model = ModelV2.load(folder, { folds: foldNums, allowOtherTrainer: opts.allowOtherTrainer, previousStage: opts.previousStage });
    try {
      const ds = path.basename(path.dirname(folder));
      const name = opts.name ?? `${ds}_${model.configuration}`.replace(/[^\w.-]/g, '_');
      const v2Files = (m: ModelV2) => {
        const dir = m.v2.folder.dir;
        const files = ['plans.json', 'dataset.json', 'dataset_fingerprint.json'].filter((f) => fs.existsSync(path.join(dir, f)));
        for (const f of m.folds) files.push(path.join(f, 'checkpoint_final.pth'));
        return files;
      };
      const files = v2Files(model);
      // a cascade stage carries its previous stage's model
      const low = model.previousStage;
      const also = low ? [{ folder: low.v2.folder.dir, files: v2Files(low), to: PREVIOUS_STAGE_FOLDER }] : [];
      const dir = writeStoreEntry(
        modelStore(opts),
        name,
        folder,
        files,
        {
          format: 'nnunet-v2',
          name,
          configuration: model.configuration,
          trainer: model.trainer,
          plans: model.plansName,
          folds: model.folds,
          checkpoint: 'checkpoint_final.pth',
          source: src,
          imported_at: new Date().toISOString(),
          ...(low ? { previous_stage: path.join(PREVIOUS_STAGE_FOLDER, path.basename(low.v2.folder.dir)) } : {}),
        },
        Boolean(opts.overwrite),
        also,
      );
      return { name, dir, model: String(model) };
    } finally {
      model.dispose();
    }
  }

  get architecture(): NetworkArchitecture {
    return this.networks[0].architecture;
  }

  /** The configuration's settings (patch size, spacing, normalization, topology). */
  get configurationSettings(): PlansConfiguration {
    return resolveConfiguration(this.plans.json, this.configuration);
  }

  get numClasses(): number {
    return this.architecture.numClasses;
  }

  /** Network summary table (stages, features, parameters). */
  describe(): string {
    const c = this.configurationSettings;
    const d = describeNetwork(c, { numInputChannels: this.architecture.numInputChannels, numClasses: this.numClasses });
    return [
      `${this.format} model ${this.trainer}__${this.plansName} (${this.configuration}), folds ${this.folds.join(', ')}`,
      ...(this.previousStage ? [`previous stage: ${this.previousStage} (predicted first; its segmentation is ${this.numClasses - 1} one-hot input channel(s))`] : []),
      `patch ${c.patch_size.join('x')}, spacing ${c.spacing.join('x')}, ${this.architecture.numInputChannels} channel(s), ${this.numClasses} classes`,
      `postprocessing: ${this.postprocessing ? `largest component of ${JSON.stringify(this.postprocessing.for_which_classes)}` : 'none'}`,
      d.table,
    ].join('\n');
  }

  toString(): string {
    return `Model(${this.format} ${this.trainer}__${this.plansName} ${this.configuration}, folds ${this.folds.join(', ')}${this.previousStage ? `, after ${this.previousStage.trainer} 3d_lowres folds ${this.previousStage.folds.join(', ')}` : ''})`;
  }

  private check(): void {
    if (this.disposed) throw new Error(`${this}: used after dispose()`);
  }

  /** Predict one case: a NIfTI file (3D or 4D), or its channel volumes. */
  async predict(input: string | Volume | Volume[], opts: ModelPredictOptions = {}): Promise<ModelPrediction> {
    this.check();
    let images: Volume[];
    let id = opts.id;
    if (typeof input === 'string') {
      images = await readNiftiChannels(input);
      id ??= niftiBaseName(input).replace(/_\d{4}$/, '');
    } else images = Array.isArray(input) ? input : [input];
    id ??= 'case';
    const out = opts.outputDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'nnunet-ts-model-'));
    try {
      const r = await this.run([{ id, images }], out, { ...opts, saveProbabilities: opts.probabilities });
      const st = r.cases[0];
      const segmentation = (await readNifti(st.file!)) as Volume<Uint8Array>;
      const probabilities = opts.probabilities ? loadProbabilities(st.probabilities!).probs : undefined;
      return {
        id,
        segmentation,
        probabilities,
        files: opts.outputDir ? { segmentation: st.file!, probabilities: st.probabilities } : undefined,
        seconds: st.seconds,
      };
    } finally {
      if (!opts.outputDir) fs.rmSync(out, { recursive: true, force: true });
    }
  }

  /**
   * Predict every case of a folder (`<case>_0000.nii.gz` or `<case>.nii.gz`) into `outputDir` (predict_simple):
   * `<case>.nii.gz`, and with `probabilities` `<case>.npy` (float16) + `<case>.json`.
   */
  async predictFolder(
    input: string | PredictInputCase[],
    outputDir: string,
    opts: Omit<ModelPredictOptions, 'outputDir' | 'id'> & {
      caseIds?: string[];
      /** a cascade: the 3d_lowres segmentations (`<case>.nii.gz`) instead of predicting them (predict_simple -l) */
      previousStagePredictions?: string;
    } = {},
  ): Promise<PredictionResult> {
    this.check();
    return this.run(input, outputDir, { ...opts, saveProbabilities: opts.probabilities });
  }

  private run(
    input: string | PredictInputCase[],
    outputDir: string,
    o: {
      saveProbabilities?: boolean;
      mirroring?: boolean;
      stepSize?: number;
      progress?: boolean;
      caseIds?: string[];
      tileWorkers?: number | 'auto';
      previousStagePredictions?: string;
    },
  ): Promise<PredictionResult> {
    return predictCases({
      plans: this.plans,
      configuration: this.configuration,
      networks: this.networks,
      foldFolders: this.folds,
      postprocessing: this.postprocessing ?? false,
      input,
      outputDir,
      caseIds: o.caseIds,
      mirroring: o.mirroring,
      stepSize: o.stepSize,
      saveProbabilities: o.saveProbabilities,
      progress: o.progress ?? false,
      tileWorkers: o.tileWorkers,
      previousStagePredictions: o.previousStagePredictions,
      ...(this.previousStage
        ? {
            previousStage: {
              plans: this.previousStage.plans,
              configuration: this.previousStage.configuration,
              networks: this.previousStage.networks,
              foldFolders: this.previousStage.folds,
              postprocessing: this.previousStage.postprocessing ?? false,
            },
            // official v1 prediction resizes the uncropped lowres segmentation (reference appendix B.9)
            v1UncroppedCascadeInput: true,
          }
        : {}),
    });
  }

  dispose(): void {
    if (this.disposed) return;
    this.previousStage?.dispose();
    for (const n of this.networks) n.dispose();
    this.disposed = true;
  }
}
