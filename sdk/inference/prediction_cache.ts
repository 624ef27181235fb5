/**
 * Reuse of earlier predictions (`reuse: true`): a case is not predicted again when its output files exist and
 * `<outputDir>/predictions_manifest.json` records that they were made from the same input, model and settings.
 * Keys (sha256):
 *   - input: each input file's path, size and modification time (like make), or the voxels and geometry of a case
 *     given in memory;
 *   - model: the configuration's plans, every fold's checkpoint manifest (it names the epoch-stamped weights, so a
 *     retrained fold changes it) and the postprocessing applied; the cascade's low-res stage likewise;
 *   - settings: configuration, checkpoint, mirroring, step size, probabilities or not.
 * Networks handed over in memory have no stable identity, so their predictions are never reused.
 * The manifest is rewritten (atomically) after every case, so an interrupted prediction resumes where it stopped.
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { readJsonSync, writeJsonAtomic } from '../io/atomic';
import type { Volume } from '../io/volume';
import { filesKey } from '../io/files_key';
export { filesKey };
import { Plans, resolveConfiguration } from '../planning/plans';
import type { PostprocessingJson } from '../postprocessing/connected_components';

export const PREDICTIONS_MANIFEST = 'predictions_manifest.json';

interface ManifestJSON {
  format: 'nnunet-ts-predictions';
  version: 1;
  /** case id -> key of (input, model, settings) its files were made from */
  cases: Record<string, string>;
}

const sha256 = (...parts: (string | Uint8Array)[]) => {
  const h = crypto.createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest('hex');
};

/** Key of a model as predictCases uses it: plans configuration, checkpoint manifests, postprocessing. */
export function modelKey(m: {
  plans: Plans | import('../planning/plans').PlansJSON;
  configuration: string;
  foldFolders: readonly string[];
  checkpoint: string;
  postprocessing: PostprocessingJson | null;
}): string {
  const json = m.plans instanceof Plans ? m.plans.json : m.plans;
  const folds = m.foldFolders.map((d) => {
    const f = path.join(d, `${m.checkpoint}.json`);
    return [path.resolve(d), fs.existsSync(f) ? sha256(fs.readFileSync(f)) : null];
  });
  return sha256(JSON.stringify({ cfg: resolveConfiguration(json, m.configuration), tf: json.transpose_forward, tb: json.transpose_backward, folds, pp: m.postprocessing }));
}

/** Key of a case given in memory: voxels and geometry of every channel. */
export function volumesKey(images: readonly Volume[]): string {
  const h = crypto.createHash('sha256');
  for (const v of images) {
    h.update(JSON.stringify({ shape: v.shape, spacing: v.spacing, origin: v.origin, direction: v.direction, type: v.data.constructor.name }));
    const d = v.data as unknown as { buffer: ArrayBuffer; byteOffset: number; byteLength: number };
    h.update(new Uint8Array(d.buffer, d.byteOffset, d.byteLength));
  }
  return h.digest('hex');
}

export class PredictionCache {
  private readonly file: string;
  private readonly cases: Record<string, string>;

  constructor(
    readonly outputDir: string,
    /** model + settings key (see the module comment) */
    private readonly runKey: string,
  ) {
    this.file = path.join(outputDir, PREDICTIONS_MANIFEST);
    this.cases = {};
    if (fs.existsSync(this.file)) {
      try {
        const m = readJsonSync<ManifestJSON>(this.file);
        if (m.format === 'nnunet-ts-predictions' && m.cases) Object.assign(this.cases, m.cases);
      } catch {
        // an unreadable manifest only means nothing is reused
      }
    }
  }

  private key(inputKey: string): string {
    return sha256(this.runKey, inputKey);
  }

  /** The case's outputs exist and were made from this input with this model and settings. */
  isFresh(id: string, inputKey: string, outputs: readonly (string | undefined)[]): boolean {
    return this.cases[id] === this.key(inputKey) && outputs.every((f) => !f || fs.existsSync(f));
  }

  async record(id: string, inputKey: string): Promise<void> {
    this.cases[id] = this.key(inputKey);
    const m: ManifestJSON = { format: 'nnunet-ts-predictions', version: 1, cases: this.cases };
    await writeJsonAtomic(this.file, m);
  }

  /** Forget a case (its prediction failed or is being rewritten). */
  async forget(id: string): Promise<void> {
    if (!(id in this.cases)) return;
    delete this.cases[id];
    await writeJsonAtomic(this.file, { format: 'nnunet-ts-predictions', version: 1, cases: this.cases } satisfies ManifestJSON);
  }
}
