/**
 * Tile parallelism for the single-threaded CPU backends (Node only). tfjs-wasm computes on one thread, while PyTorch
 * predicts a tile with every core through intra-op threads (a Lung 3d_fullres tile, 80x192x160, on this project's
 * 2-core machine: PyTorch 40.6 s on 1 thread, 25.4 s on 2). TileWorkers runs more wasm instances in worker threads,
 * each holding a copy of the networks; the sliding window keeps one network call in flight per instance (this thread
 * computes one too) and aggregates the results in tile order, so the prediction is the one-thread prediction, bit for
 * bit (same kernels, same per-tile arithmetic, same summation order).
 *
 * Memory: every instance holds one tile's activations on its own wasm heap (the Lung tile above: about 2.5 GB
 * RSS each), so the worker count is also a memory choice (`tileWorkers: 0` turns them off).
 */
import type { MessagePort, Worker } from 'worker_threads';
import type { NetworkArchitecture } from '../network/architecture';
import { GenericUNet } from '../network/generic_unet';
import { initBackend, BackendName } from '../network/backend';
import { extraCpuInstances } from '../network/cpu_instances';
import { startModuleWorker } from '../util/pool';
import type { PatchPredictor } from './sliding_window';
import { tfjsPatchPredictor } from './tfjs_predictor';

type ToWorker =
  | { type: 'network'; netId: number; architecture: NetworkArchitecture; values: [string, Float32Array][] }
  | { type: 'predict'; id: number; netId: number; batch: Float32Array; shape: number[] };

type FromWorker = { type: 'ready' } | { type: 'out'; id: number; data: Float32Array } | { type: 'error'; id?: number; error: string };

/**
 * A network call below this many forward GFLOP (a few seconds on one core) does not pay for starting workers (a
 * second or more each, plus the weights): 'auto' leaves such models on one thread. For scale: the Lung 3d_fullres
 * tile (80x192x160) is 1119 GFLOP, a hippocampus 3d_fullres tile (40x56x40) 38, 306 with its 8 mirrorings.
 */
export const TILE_WORKERS_MIN_GFLOP_PER_CALL = 100;

/**
 * Worker count for `tileWorkers` (CLI `--tile-workers`): extraCpuInstances (cores - 1, at most 3; none on native
 * TensorFlow or webgpu), and with 'auto' none either when one network call is below TILE_WORKERS_MIN_GFLOP_PER_CALL.
 */
export function tileWorkerCount(n: number | 'auto' | undefined, gflopPerCall: number): number {
  if ((n === undefined || n === 'auto') && !(gflopPerCall >= TILE_WORKERS_MIN_GFLOP_PER_CALL)) return 0;
  return extraCpuInstances(n ?? 'auto', 'tileWorkers');
}

/** Worker side: its own backend instance and a network per netId; one tile batch per message, in order. */
export function runTileWorker(port: MessagePort, init: { backend: BackendName }): void {
  const nets = new Map<number, PatchPredictor>();
  let chain: Promise<void> = Promise.resolve();
  const ready = initBackend({ backend: init.backend, log: false });
  ready.then(
    () => port.postMessage({ type: 'ready' } satisfies FromWorker),
    (e) => port.postMessage({ type: 'error', error: `tile worker could not start the ${init.backend} backend: ${(e as Error).message}` } satisfies FromWorker),
  );
  port.on('message', (m: ToWorker | { type: 'close' }) => {
    if (m.type === 'close') {
      port.close();
      return;
    }
    chain = chain.then(async () => {
      try {
        if (m.type === 'network') {
          const net = new GenericUNet(m.architecture);
          net.setValues(new Map(m.values));
          nets.set(m.netId, tfjsPatchPredictor((x) => net.predict(x)));
          return;
        }
        const p = nets.get(m.netId);
        if (!p) throw new Error(`tile worker: no network ${m.netId}`);
        const data = await p(m.batch, m.shape);
        port.postMessage({ type: 'out', id: m.id, data } satisfies FromWorker, [data.buffer as ArrayBuffer]);
      } catch (e) {
        port.postMessage({ type: 'error', id: m.type === 'predict' ? m.id : undefined, error: String((e as Error)?.stack ?? e) } satisfies FromWorker);
      }
    });
  });
}

interface Pending {
  resolve: (d: Float32Array) => void;
  reject: (e: Error) => void;
}

/** Main side: `count` worker threads, each with its own backend instance. */
export class TileWorkers {
  private readonly pending = new Map<number, Pending>();
  private readonly busy: boolean[];
  /** networks whose weights the workers have (sent once per pool, not once per case) */
  private readonly sent = new WeakMap<GenericUNet, PatchPredictor>();
  private nextNet = 0;
  private nextId = 0;
  private closed = false;
  private failure: Error | null = null;

  private constructor(private readonly workers: Worker[]) {
    this.busy = workers.map(() => false);
    workers.forEach((w) => {
      w.on('message', (m: FromWorker) => {
        if (m.type === 'ready') return;
        if (m.type === 'error' && m.id === undefined) return this.fail(new Error(m.error));
        const id = m.id as number;
        const p = this.pending.get(id);
        if (!p) return;
        this.pending.delete(id);
        if (m.type === 'out') p.resolve(m.data);
        else p.reject(new Error(`tile worker: ${m.error}`));
      });
      w.on('error', (e) => this.fail(new Error(`tile worker failed: ${e.message}`)));
      w.on('exit', (code) => {
        if (!this.closed) this.fail(new Error(`tile worker exited with code ${code}`));
      });
    });
  }

  /** Starts `count` workers on `backend` and waits until each has its backend running. */
  static async start(count: number, backend: BackendName): Promise<TileWorkers> {
    if (!(Number.isInteger(count) && count >= 1)) throw new Error(`TileWorkers: count must be a positive integer, got ${count}`);
    const workers = Array.from({ length: count }, () => startModuleWorker(require.resolve('./tile_workers'), 'runTileWorker', { backend }));
    const pool = new TileWorkers(workers);
    try {
      await Promise.all(
        workers.map(
          (w) =>
            new Promise<void>((resolve, reject) => {
              const on = (m: FromWorker) => {
                if (m.type === 'ready') {
                  w.off('message', on);
                  resolve();
                } else if (m.type === 'error' && m.id === undefined) reject(new Error(m.error));
              };
              w.on('message', on);
              w.once('error', reject);
            }),
        ),
      );
    } catch (e) {
      await pool.close();
      throw e;
    }
    return pool;
  }

  /** Network calls that can be in flight at once: one per worker plus this thread's. */
  get concurrency(): number {
    return this.workers.length + 1;
  }

  /**
   * The PatchPredictors of `nets` over this pool, after every worker has been sent their weights. A call goes to a
   * free worker when there is one (posted before the call returns, so the worker computes while this thread runs the
   * next call), else runs on this thread.
   */
  async predictors(nets: readonly GenericUNet[]): Promise<PatchPredictor[]> {
    const out: PatchPredictor[] = [];
    for (const net of nets) {
      const known = this.sent.get(net);
      if (known) {
        out.push(known);
        continue;
      }
      const netId = this.nextNet++;
      const values = [...(await net.getValues()).entries()];
      // messages are handled in order, so the weights land before that worker's first tile
      for (const w of this.workers) w.postMessage({ type: 'network', netId, architecture: net.architecture, values } satisfies ToWorker);
      const p = this.predictor(netId, tfjsPatchPredictor((x) => net.predict(x)));
      this.sent.set(net, p);
      out.push(p);
    }
    return out;
  }

  private predictor(netId: number, local: PatchPredictor): PatchPredictor {
    return (batch, shape) => {
      if (this.failure) return Promise.reject(this.failure);
      const w = this.busy.indexOf(false);
      if (w < 0) return local(batch, shape);
      this.busy[w] = true;
      const id = this.nextId++;
      const out = new Promise<Float32Array>((resolve, reject) => this.pending.set(id, { resolve, reject }));
      this.workers[w].postMessage({ type: 'predict', id, netId, batch, shape: [...shape] } satisfies ToWorker);
      return out.finally(() => (this.busy[w] = false));
    };
  }

  private fail(e: Error): void {
    this.failure ??= e;
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.fail(new Error('tile workers closed'));
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
