/**
 * A training run's key (`run_key` in its checkpoints): everything besides the trainer / plans / configuration / fold
 * identity that decides the trained weights. `resume: 'auto'` reuses a finished run only when the key matches, so a
 * change of settings, split or data retrains, while moving a folder (same content) does not.
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { readCaseProperties } from '../preprocessing/preprocessed_dataset';
import type { RunSetup } from './setup';
import type { ResolvedOptions } from './trainer';

/** Everything, besides the trainer/plans/configuration/fold identity, that decides the trained weights. */
export function runKey(o: ResolvedOptions, s: RunSetup, schedule: { maxEpochs: number; itersPerEpoch: number; valIters: number; initialLr: number }): string {
  const seed = o.seed ?? (o.deterministic === false ? null : 12345);
  // the split and the data: each case's preprocessing hash and voxel digest (content, not paths: a moved folder
  // keeps its runs; a re-preprocessed case with other voxels does not)
  const data = (ids: readonly string[]) =>
    ids.map((id) => {
      const p = readCaseProperties(o.preprocessedDir, id);
      return [id, p.preprocessing_hash, p.data_sha256 ?? null];
    });
  const key = { cfg: s.cfg, numClasses: s.numClasses, cascade: s.cascade, seed, ...schedule, train: data(o.trainCases), val: data(o.valCases),
    // the cascade's input: the previous stage's segmentations
    previousStage: o.previousStageDir ? previousStageDigest(o.previousStageDir, [...o.trainCases, ...o.valCases]) : null,
  };
  return crypto.createHash('sha256').update(JSON.stringify(key)).digest('hex');
}

/** sha256 of the cascade's input files (`<case>_segFromPrevStage.npy`), by content. */
function previousStageDigest(dir: string, ids: readonly string[]): string {
  const h = crypto.createHash('sha256');
  for (const id of ids) {
    const f = path.join(dir, `${id}_segFromPrevStage.npy`);
    h.update(id);
    if (fs.existsSync(f)) h.update(fs.readFileSync(f));
  }
  return h.digest('hex');
}
