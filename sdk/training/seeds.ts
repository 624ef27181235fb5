/**
 * Determinism of a training run: every batch is a function of (seed, epoch, iteration, split) only. The loader's
 * RandomState is reseeded per batch (SeededBatchSource) and each epoch's augmentation seeds derive from
 * (seed, epoch, split), so batches never depend on worker timing and a resumed run sees exactly the batches the
 * uninterrupted run saw. The network's initial weights derive from the seed too (SPLIT_INIT).
 */
import { RandomState } from '../util/random';
import type { BatchSource } from './batch_generator';
import type { DataLoader2D, DataLoader3D, LoaderBatch } from './data_loader';

/** 32-bit mix (murmur3 finaliser) of (seed, epoch, iteration, split) -> RandomState seed. */
export function deriveSeed(seed: number, epoch: number, iteration: number, split: number): number {
  let h = 0x9e3779b9 ^ (seed >>> 0);
  for (const v of [epoch, iteration, split]) {
    h = Math.imul(h ^ (v >>> 0), 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;
  }
  return h >>> 0;
}

export const SPLIT_TRAIN = 1;
export const SPLIT_VAL = 2;
export const SPLIT_AUG_TRAIN = 3;
export const SPLIT_AUG_VAL = 4;
export const SPLIT_INIT = 5;

/** Reseeds the loader per batch so batch k of (epoch, split) only depends on the seed. */
export class SeededBatchSource implements BatchSource {
  private k = 0;
  constructor(
    private readonly loader: DataLoader3D | DataLoader2D,
    private readonly seed: number,
    private readonly epoch: number,
    private readonly split: number,
  ) {}
  generateTrainBatch(): Promise<LoaderBatch> {
    this.loader.rng.setState(new RandomState(deriveSeed(this.seed, this.epoch, this.k++, this.split)).getState());
    return this.loader.generateTrainBatch();
  }
}
