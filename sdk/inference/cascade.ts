/**
 * The inference side of nnU-Net v1's cascade (S1 nnUNetTrainerV2_CascadeFullRes.py, cascade_stuff/predict_next_stage.py,
 * inference/predict.py `lowres_segmentations`; reference §10.3): the 3d_lowres stage's segmentation of a case becomes
 * one-hot input channels (labels 1..K−1) of the 3d_cascade_fullres network.
 *   - predictNextStage: a fold's 3d_lowres model predicts its validation cases into `pred_next_stage/`
 *     (`<case>_segFromPrevStage.npy` at the full-res preprocessed shape), the cascade's training input;
 *   - preprocessedNetworkInput: a preprocessed case's channels with those one-hot channels appended (validation);
 *   - cascadeOneHot (cascade_one_hot.ts, Node-free): the same channels from a low-res segmentation in raw geometry
 *     (prediction of new cases).
 * The training side (loading `segFromPrevStage` with each training case) is sdk/training/prev_stage_provider.ts.
 */
import * as fs from 'fs';
import * as path from 'path';
import { readNpy, writeNpy } from '../io/npy';
import { Plans, PlansJSON, resolveConfiguration } from '../planning/plans';
import type { GenericUNet } from '../network/generic_unet';
import { initBackend } from '../network/backend';
import { readCaseProperties } from '../preprocessing/preprocessed_dataset';
import { resampleChannel, resizeSegmentation } from '../preprocessing/resampling';
import { transpose3 } from '../preprocessing/preprocessing';
import { progress } from '../util/progress';
import { argmaxClasses, predictSlidingWindow } from './sliding_window';
import { tfjsPatchPredictor } from './tfjs_predictor';
import { foregroundOneHot } from './cascade_one_hot';
export { cascadeOneHot, foregroundOneHot } from './cascade_one_hot';

/** `<dir>/<id>_segFromPrevStage.npy` (uint8, the preprocessed shape): the previous stage's segmentation of a case. */
export function readSegFromPrevStage(dir: string, id: string, spatial: readonly number[]): Uint8Array {
  const f = path.join(dir, `${id}_segFromPrevStage.npy`);
  if (!fs.existsSync(f)) throw new Error(`cascade: ${f} is missing (run predictNextStage for the 3d_lowres fold that validates ${id})`);
  const a = readNpy(f);
  const sp = a.shape.length === 4 ? a.shape.slice(1) : a.shape;
  if (sp.join() !== spatial.join()) throw new Error(`${f}: shape [${a.shape}] does not match the preprocessed case [${spatial}]`);
  return a.data instanceof Uint8Array ? a.data : Uint8Array.from(a.data as ArrayLike<number>);
}

/** Image channels of a preprocessed case, with the cascade's one-hot previous-stage channels (labels 1..K−1) appended. */
export function preprocessedNetworkInput(dir: string, id: string, numClasses: number, previousStageDir?: string): { data: Float32Array; shape: [number, number, number, number] } {
  const a = readNpy(path.join(dir, `${id}.npy`));
  if (a.shape.length !== 4) throw new Error(`${path.join(dir, `${id}.npy`)}: expected (C, Z, Y, X), got [${a.shape}]`);
  const data = a.data instanceof Float32Array ? a.data : Float32Array.from(a.data as ArrayLike<number>);
  const [C, Z, Y, X] = a.shape;
  if (!previousStageDir) return { data, shape: [C, Z, Y, X] };
  const seg = readSegFromPrevStage(previousStageDir, id, [Z, Y, X]);
  const oneHot = foregroundOneHot(seg, numClasses);
  const out = new Float32Array(data.length + oneHot.length);
  out.set(data);
  out.set(oneHot, data.length);
  return { data: out, shape: [C + numClasses - 1, Z, Y, X] };
}

export interface PredictNextStageOptions {
  /** The trained 3d_lowres network of this fold. */
  net: GenericUNet;
  plans: Plans | PlansJSON;
  /** Default '3d_lowres'. */
  configuration?: string;
  lowresPreprocessedDir: string;
  /** The full-res (next stage) preprocessed folder: gives the target shape of every case. */
  fullresPreprocessedDir: string;
  /** The fold's validation cases (out-of-fold). */
  caseIds: readonly string[];
  /** `<results>/<dataset>/<trainer>__<plans>__3d_lowres/pred_next_stage` */
  outputDir: string;
  numClasses: number;
  mirroring?: boolean;
  progress?: boolean;
}

/**
 * predict_next_stage: sliding-window probabilities of the low-res case (TTA), resized per class to the full-res
 * preprocessed shape with order 1 (plain 3D, no separate-z: resize_softmax_output), argmax -> uint8
 * `<outputDir>/<case>_segFromPrevStage.npy` (v1: .npz key 'data'). No postprocessing.
 */
export async function predictNextStage(o: PredictNextStageOptions): Promise<string[]> {
  // the selected fast backend (wasm here), never tfjs's silent default cpu backend; idempotent
  await initBackend();
  const json = o.plans instanceof Plans ? o.plans.json : o.plans;
  const cfg = resolveConfiguration(json, o.configuration ?? '3d_lowres');
  if (cfg.patch_size.length !== 3) throw new Error(`predictNextStage: ${o.configuration ?? '3d_lowres'} is not a 3D configuration`);
  fs.mkdirSync(o.outputDir, { recursive: true });
  const predictor = tfjsPatchPredictor((x) => o.net.predict(x));
  const out: string[] = [];
  const bar = o.progress === false ? null : progress('predict next stage', o.caseIds.length);
  for (const id of o.caseIds) {
    const inp = preprocessedNetworkInput(o.lowresPreprocessedDir, id, o.numClasses);
    const probs = await predictSlidingWindow(inp.data, inp.shape, {
      patchSize: cfg.patch_size,
      numClasses: o.numClasses,
      predictPatch: predictor,
      mirrorAxes: o.mirroring === false ? [] : [0, 1, 2],
    });
    const target = readCaseProperties(o.fullresPreprocessedDir, id).data_shape.slice(1) as [number, number, number];
    const [C, ...sp] = probs.shape;
    const n = sp[0] * sp[1] * sp[2];
    const nt = target[0] * target[1] * target[2];
    const resized = new Float32Array(C * nt);
    for (let c = 0; c < C; c++) {
      const r = resampleChannel(probs.data.subarray(c * n, (c + 1) * n), sp as [number, number, number], target, {
        isSeg: false,
        order: 1,
        doSeparateZ: false,
        axis: null,
      });
      resized.set(r, c * nt);
    }
    const seg = argmaxClasses({ data: resized, shape: [C, ...target] });
    const f = path.join(o.outputDir, `${id}_segFromPrevStage.npy`);
    await writeNpy(f, seg, target);
    out.push(f);
    bar?.tick(1, id);
  }
  bar?.done();
  return out;
}

/**
 * True when every case's `<case>_segFromPrevStage.npy` in `outputDir` is newer than the low-res model's checkpoint
 * (`modelFile`): the next stage's input is up to date and predicting it again would write the same files.
 */
export function nextStageUpToDate(outputDir: string, caseIds: readonly string[], modelFile: string): boolean {
  if (!fs.existsSync(modelFile)) return false;
  const modelTime = fs.statSync(modelFile).mtimeMs;
  return caseIds.every((id) => {
    const f = path.join(outputDir, `${id}_segFromPrevStage.npy`);
    return fs.existsSync(f) && fs.statSync(f).mtimeMs >= modelTime;
  });
}
