/**
 * Ensembling (nnU-Net v1 inference/ensemble_predictions.py `merge`, evaluation/model_selection/ensemble.py): average
 * the saved probability maps of several configurations (or models) of one case, then export as a single prediction.
 * Probability files are the ones sdk/inference/export.ts writes (`<case>.npy` float16 + `<case>.json`).
 */
import * as fs from 'fs';
import type { Volume } from '../io/volume';
import { writeNifti } from '../io/nifti';
import { roundToFloat16 } from '../inference/gaussian';
import type { ClassProbabilities } from '../inference/sliding_window';
import { segmentationFromCroppedProbabilities, type ExportPredictionOptions } from '../inference/export';
import { loadProbabilities, saveProbabilities } from '../inference/export_files';

/**
 * Average probability maps of several configurations (v1 `np.mean((res1, res2), 0)` on float16 arrays: float32
 * accumulation, result rounded to float16 when `float16` is set, the default, as the saved maps are float16).
 */
export function averageProbabilities(maps: readonly ClassProbabilities[], opts: { float16?: boolean } = {}): ClassProbabilities {
  if (maps.length === 0) throw new Error('averageProbabilities: nothing to average');
  const shape = maps[0].shape;
  for (const m of maps) {
    if (m.shape.length !== 4 || m.shape.some((s, i) => s !== shape[i])) {
      throw new Error(`averageProbabilities: shapes differ: [${m.shape}] vs [${shape}]`);
    }
  }
  const out = new Float32Array(maps[0].data.length);
  for (const m of maps) for (let i = 0; i < out.length; i++) out[i] += m.data[i];
  const n = maps.length;
  const f16 = opts.float16 ?? true;
  for (let i = 0; i < out.length; i++) {
    const v = Math.fround(out[i] / n);
    out[i] = f16 ? roundToFloat16(v) : v;
  }
  return { data: out, shape: [...shape] as [number, number, number, number] };
}

/**
 * Ensemble of configurations (v1 ensemble_predictions.merge_files / model_selection ensemble.merge): average the
 * saved probability files of one case, argmax, paste, postprocess, write the NIfTI.
 */
export async function ensembleProbabilityFiles(
  files: readonly string[],
  outFile: string,
  opts: Pick<ExportPredictionOptions, 'postprocessing'> & { saveProbabilities?: string } = {},
): Promise<Volume<Uint8Array>> {
  const loaded = files.map((f) => {
    if (!fs.existsSync(f)) throw new Error(`${f}: probability file missing (predict with probabilities saved)`);
    return loadProbabilities(f);
  });
  const p = loaded[0].properties;
  const mean = averageProbabilities(loaded.map((l) => l.probs));
  if (opts.saveProbabilities) await saveProbabilities(opts.saveProbabilities, mean, p);
  const vol = segmentationFromCroppedProbabilities(mean, p, opts);
  await writeNifti(outFile, vol, { dtype: 'uint8' });
  return vol;
}

/**
 * v1 `nnUNet_ensemble` (inference/ensemble_predictions.py `merge`): for every case whose probability file exists in
 * all folders (v1 asserts that every folder holds the same cases), average, argmax, paste, optionally postprocess,
 * write `<output>/<case>.nii.gz`. Returns the case ids written.
 */
export async function ensembleFolders(
  folders: readonly string[],
  outputFolder: string,
  opts: Pick<ExportPredictionOptions, 'postprocessing'> & { saveProbabilities?: boolean } = {},
): Promise<string[]> {
  if (folders.length < 2) throw new Error('ensembleFolders: give at least two folders of probability files');
  const list = (f: string) => {
    try {
      return fs.readdirSync(f).filter((n) => n.endsWith('.npy')).map((n) => n.slice(0, -4)).sort();
    } catch (e) {
      throw new Error(`${f}: cannot list folder: ${(e as Error).message}`);
    }
  };
  const ids = list(folders[0]);
  for (const f of folders.slice(1)) {
    const other = list(f);
    const missing = ids.filter((i) => !other.includes(i)).concat(other.filter((i) => !ids.includes(i)));
    if (missing.length) throw new Error(`${f}: folders hold different cases (${missing.join(', ')}); v1 requires the same cases`);
  }
  fs.mkdirSync(outputFolder, { recursive: true });
  for (const id of ids) {
    await ensembleProbabilityFiles(
      folders.map((f) => `${f}/${id}.npy`),
      `${outputFolder}/${id}.nii.gz`,
      { postprocessing: opts.postprocessing, saveProbabilities: opts.saveProbabilities ? `${outputFolder}/${id}.npy` : undefined },
    );
  }
  return ids;
}
