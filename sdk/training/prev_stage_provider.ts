/**
 * The training side of the cascade: each 3d_cascade_fullres training case carries the 3d_lowres stage's out-of-fold
 * segmentation (`pred_next_stage/<case>_segFromPrevStage.npy`), which the augmentation turns into one-hot channels
 * (MoveSegAsOneHotToData). The inference side (writing those files, one-hot input at prediction): sdk/inference/cascade.ts.
 */
import { readSegFromPrevStage } from '../inference/cascade';
import type { CaseProvider, PreprocessedCase } from './data_loader';

/** Adds `segFromPrevStage` (cascade) from a pred_next_stage folder to the cases of another provider. */
export class PrevStageCaseProvider implements CaseProvider {
  private cache = new Map<string, PreprocessedCase>();
  constructor(private readonly inner: CaseProvider, readonly prevStageDir: string) {}
  get caseIds(): readonly string[] {
    return this.inner.caseIds;
  }
  async load(id: string): Promise<PreprocessedCase> {
    const hit = this.cache.get(id);
    if (hit) return hit;
    const c = await this.inner.load(id);
    const seg = readSegFromPrevStage(this.prevStageDir, id, c.shape.slice(1));
    const out = { ...c, segFromPrevStage: seg };
    this.cache.set(id, out);
    return out;
  }
}
