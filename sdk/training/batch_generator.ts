/**
 * BatchGenerator: the MultiThreadedAugmenter of our training loop. The loader (cheap cropping, one seeded RandomState,
 * sequential so runs are reproducible) runs on the main thread; the augmentation pipeline (expensive interpolation)
 * runs ahead of the consumer in persistent worker threads, `prefetch` batches deep. Each batch gets its own seed drawn
 * from the generator's RandomState, so results do not depend on the number of threads or on timing.
 * `stats` reports how long the consumer waited for batches (time the training loop was starved).
 */
import { Worker } from 'worker_threads';
import { startModuleWorker } from '../util/pool';
import { RandomState } from '../util/random';
import { LoaderBatch } from './data_loader';
import { MoreDAParams } from './patch_size';
import { AugmentJob, augmentBatch } from './pipeline';
import { AugBatch } from './transforms/base';

export interface BatchSource {
  generateTrainBatch(): Promise<LoaderBatch>;
}

export interface BatchGeneratorOptions {
  params: MoreDAParams;
  /** Validation pipeline (no augmentation) instead of the training one. */
  validation?: boolean;
  /** Worker threads; 0 runs the pipeline inline on this thread (tests, debugging). Default 2. */
  threads?: number;
  /** Batches kept in flight ahead of the consumer. Default 2 × threads (at least 1). */
  prefetch?: number;
  /** Seed of the per-batch augmentation seeds. */
  seed?: number;
}

export interface BatchGeneratorStats {
  batches: number;
  /** Total ms next() waited for a batch that was not ready yet. */
  waitMsTotal: number;
  waitMsLast: number;
  /** Mean ms the pipeline took per batch (measured where it ran). */
  augmentMsMean: number;
}

interface Pending {
  resolve: (b: AugBatch) => void;
  reject: (e: Error) => void;
}

export class BatchGenerator {
  readonly threads: number;
  readonly prefetch: number;
  private readonly rng: RandomState;
  private workers: Worker[] = [];
  /** Jobs in flight per worker: a busy worker keeps the process alive, an idle one does not (no hang without close). */
  private busy: number[] = [];
  private pending = new Map<number, Pending>();
  private queue: Promise<AugBatch>[] = [];
  private loaderChain: Promise<unknown> = Promise.resolve();
  private nextId = 0;
  private rr = 0;
  private closed = false;
  private closing: Promise<void> | null = null;
  private augmentMsSum = 0;
  private augmentCount = 0;
  readonly stats: BatchGeneratorStats = { batches: 0, waitMsTotal: 0, waitMsLast: 0, augmentMsMean: 0 };

  constructor(private readonly source: BatchSource, private readonly o: BatchGeneratorOptions) {
    this.threads = Math.max(0, o.threads ?? 2);
    this.prefetch = Math.max(1, o.prefetch ?? 2 * Math.max(1, this.threads));
    this.rng = new RandomState(o.seed ?? 0);
    for (let i = 0; i < this.threads; i++) {
      const w = startModuleWorker(require.resolve('./pipeline'), 'runAugmentationWorker');
      const wi = i;
      w.on('message', (m: { id: number; out?: AugBatch; ms?: number; error?: string }) => {
        // a batch finished after close() began: drop it, and leave the worker ref'd until it has exited
        if (this.closed) return;
        if (--this.busy[wi] === 0) w.unref();
        const p = this.pending.get(m.id);
        if (!p) return;
        this.pending.delete(m.id);
        if (m.error) p.reject(new Error(`BatchGenerator: augmentation of batch ${m.id} failed in a worker: ${m.error}`));
        else {
          this.noteAugmentMs(m.ms ?? 0);
          p.resolve(m.out!);
        }
      });
      w.on('error', (e) => {
        if (this.closed) return;
        for (const p of this.pending.values()) p.reject(new Error(`BatchGenerator: worker died: ${e.message}`));
        this.pending.clear();
      });
      w.unref();
      this.workers.push(w);
      this.busy.push(0);
    }
  }

  private noteAugmentMs(ms: number): void {
    this.augmentMsSum += ms;
    this.augmentCount++;
    this.stats.augmentMsMean = this.augmentMsSum / this.augmentCount;
  }

  private schedule(): void {
    while (!this.closed && this.queue.length < this.prefetch) {
      const id = this.nextId++;
      const seed = this.rng.randint(0, 2 ** 31 - 1);
      // loader calls are chained so its RandomState is consumed in batch order
      const loaded = this.loaderChain.then(() => this.source.generateTrainBatch());
      this.loaderChain = loaded.catch(() => undefined);
      const job = loaded.then((batch) => {
        // loaded after close(): the workers are gone or going
        if (this.closed) throw new Error('BatchGenerator: closed');
        const augJob: AugmentJob = {
          batch: { data: batch.data, dataShape: batch.dataShape, seg: batch.seg, segShape: batch.segShape, keys: batch.keys },
          params: this.o.params,
          seed,
          validation: this.o.validation,
        };
        // the pipeline never writes into the loader's arrays; with workers they are transferred (handed over) instead
        if (this.threads === 0) {
          const t0 = Date.now();
          const out = augmentBatch(augJob);
          this.noteAugmentMs(Date.now() - t0);
          return out;
        }
        const wi = this.rr++ % this.workers.length;
        const w = this.workers[wi];
        return new Promise<AugBatch>((resolve, reject) => {
          this.pending.set(id, { resolve, reject });
          if (this.busy[wi]++ === 0) w.ref();
          const tr = [batch.data.buffer as ArrayBuffer, batch.seg.buffer as ArrayBuffer];
          w.postMessage({ id, job: augJob }, Array.from(new Set(tr)));
        });
      });
      job.catch(() => undefined); // surfaced by next()
      this.queue.push(job);
    }
  }

  /** Start filling the prefetch queue without taking a batch. */
  warmUp(): void {
    this.schedule();
  }

  /** The next augmented batch, in order. */
  async next(): Promise<AugBatch> {
    if (this.closed) throw new Error('BatchGenerator: closed');
    this.schedule();
    const head = this.queue.shift()!;
    const t0 = process.hrtime.bigint();
    const out = await head;
    const waited = Number(process.hrtime.bigint() - t0) / 1e6;
    this.stats.batches++;
    this.stats.waitMsLast = waited;
    this.stats.waitMsTotal += waited;
    this.schedule();
    return out;
  }

  /**
   * Stop the workers; batches not yet taken are rejected, batches that workers finish from now on are dropped.
   * Resolves once every worker has exited. Idempotent: later calls return the same promise.
   */
  close(): Promise<void> {
    if (!this.closing) this.closing = this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    this.closed = true; // from here the message handler neither unrefs nor resolves, and no job is dispatched
    for (const p of this.pending.values()) p.reject(new Error('BatchGenerator: closed'));
    this.pending.clear();
    this.queue = [];
    const workers = this.workers;
    this.workers = [];
    // ref first (and keep it: late messages are ignored, so nothing unrefs again): terminate() resolves on 'exit',
    // which an unref'd worker would let the event loop skip, leaving this promise pending while the process exits
    await Promise.all(
      workers.map((w) => {
        w.ref();
        return w.terminate();
      }),
    );
  }
}
