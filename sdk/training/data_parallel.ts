/**
 * Data parallelism for the single-threaded CPU backends. tfjs-wasm computes on one thread (its threaded build gives
 * nothing here, docs/toolchain.md §3), while the official trainer's torch uses both cores through intra-op threads.
 * GradientWorkers runs extra wasm instances in worker threads, each holding a copy of the network; every training
 * step splits the batch into shards (this thread computes the first), sends each worker the current parameters and
 * its samples, and sums the shards' gradients. With batch Dice the shards exchange their tp/fp/fn sums once per step
 * (accumulateGradientsShard), so the summed gradient is the full-batch gradient, as with one process, up to float
 * summation order. Augmentation workers share the same cores: this pays off when augmentation is cheap relative to
 * the network (2d, small patches), and not on a machine with one core.
 */
import { Worker, MessagePort } from 'worker_threads';
import * as tf from '@tensorflow/tfjs';
import type { NetworkArchitecture } from '../network/architecture';
import { GenericUNet } from '../network/generic_unet';
import { initBackend, BackendName } from '../network/backend';
import { startModuleWorker } from '../util/pool';
import { accumulateGradientsShard, combineSums, GlobalSums, sliceBatch } from './accumulation';

interface StepJob {
  type: 'step';
  id: number;
  params: Float32Array[];
  data: Float32Array;
  dataShape: number[];
  targets: Int32Array[];
  targetShapes: number[][];
  weights: number[];
  batchDice: boolean;
  chunk: number;
  totalN: number;
}

type FromWorker =
  | { type: 'ready' }
  | { type: 'sums'; id: number; sums: GlobalSums }
  | { type: 'grads'; id: number; grads: (Float32Array | null)[]; lossPart: number }
  | { type: 'error'; error: string };

/** Sample ranges [start, end) of `shards` near-equal shards of n samples (earlier shards get the remainder). */
export function shardRanges(n: number, shards: number): [number, number][] {
  const out: [number, number][] = [];
  let a = 0;
  for (let i = 0; i < shards; i++) {
    const len = Math.floor(n / shards) + (i < n % shards ? 1 : 0);
    out.push([a, a + len]);
    a += len;
  }
  return out.filter(([s, e]) => e > s);
}

/** Worker side (runs in the worker thread): one network copy, one shard per step. */
export function runGradientWorker(port: MessagePort, init: { architecture: NetworkArchitecture; backend: BackendName }): void {
  serveGradients(port, init).catch((e) => port.postMessage({ type: 'error', error: String((e as Error)?.stack ?? e) }));
}

async function serveGradients(port: MessagePort, init: { architecture: NetworkArchitecture; backend: BackendName }): Promise<void> {
  await initBackend({ backend: init.backend, log: false });
  const net = new GenericUNet(init.architecture);
  const vars = net.trainableVariables();
  let globalWaiter: ((s: GlobalSums) => void) | null = null;
  let chain: Promise<void> = Promise.resolve();
  port.on('message', (m: StepJob | { type: 'global'; sums: GlobalSums } | { type: 'close' }) => {
    if (m.type === 'close') {
      port.close();
      return;
    }
    if (m.type === 'global') {
      const w = globalWaiter;
      globalWaiter = null;
      w?.(m.sums);
      return;
    }
    chain = chain.then(async () => {
      try {
        net.setValues(new Map(net.architecture.params.map((p, i) => [p.name, m.params[i]])));
        const data = tf.tensor(m.data, m.dataShape, 'float32');
        const targets = m.targets.map((t, i) => tf.tensor(t, m.targetShapes[i], 'int32'));
        const r = await accumulateGradientsShard(net, data, targets, m.weights, m.batchDice, m.chunk, m.totalN, (local) => {
          const got = new Promise<GlobalSums>((resolve) => (globalWaiter = resolve));
          port.postMessage({ type: 'sums', id: m.id, sums: local });
          return got;
        });
        data.dispose();
        tf.dispose(targets);
        // a parameter without a gradient (the seg head of the masked lowest output) is sent as null
        const grads: (Float32Array | null)[] = [];
        for (const v of vars) grads.push(r.grads[v.name] ? ((await r.grads[v.name].data()) as Float32Array) : null);
        tf.dispose(Object.values(r.grads));
        port.postMessage({ type: 'grads', id: m.id, grads, lossPart: r.lossPart }, grads.filter((g): g is Float32Array => g !== null).map((g) => g.buffer as ArrayBuffer));
      } catch (e) {
        port.postMessage({ type: 'error', error: String((e as Error).stack ?? e) });
      }
    });
  });
  port.postMessage({ type: 'ready' });
}

/** Main side: `count` worker threads, each with its own backend instance and network copy. */
export class GradientWorkers {
  private readonly inbox: FromWorker[][];
  private readonly waiters: (((m: FromWorker) => void) | null)[];
  private nextId = 0;
  private closed = false;

  private constructor(private readonly workers: Worker[]) {
    this.inbox = workers.map(() => []);
    this.waiters = workers.map(() => null);
    workers.forEach((w, i) => {
      const deliver = (m: FromWorker) => {
        const wt = this.waiters[i];
        if (wt) {
          this.waiters[i] = null;
          wt(m);
        } else this.inbox[i].push(m);
      };
      w.on('message', deliver);
      w.on('error', (e) => deliver({ type: 'error', error: e.message }));
      w.on('exit', (code) => {
        if (!this.closed) deliver({ type: 'error', error: `gradient worker exited with code ${code}` });
      });
    });
  }

  /** Starts `count` workers for `architecture` on `backend` and waits until each has built its network. */
  static async start(count: number, architecture: NetworkArchitecture, backend: BackendName): Promise<GradientWorkers> {
    if (!(Number.isInteger(count) && count >= 1)) throw new Error(`GradientWorkers: count must be a positive integer, got ${count}`);
    const workers = Array.from({ length: count }, () => startModuleWorker(require.resolve('./data_parallel'), 'runGradientWorker', { architecture, backend }));
    const pool = new GradientWorkers(workers);
    try {
      for (let i = 0; i < count; i++) await pool.expect(i, 'ready');
    } catch (e) {
      await pool.close();
      throw e;
    }
    return pool;
  }

  get count(): number {
    return this.workers.length;
  }

  private next(i: number): Promise<FromWorker> {
    const q = this.inbox[i];
    if (q.length) return Promise.resolve(q.shift()!);
    return new Promise((resolve) => (this.waiters[i] = resolve));
  }

  private async expect<T extends FromWorker['type']>(i: number, type: T): Promise<Extract<FromWorker, { type: T }>> {
    const m = await this.next(i);
    if (m.type === 'error') throw new Error(`GradientWorkers: worker ${i} failed: ${m.error}`);
    if (m.type !== type) throw new Error(`GradientWorkers: worker ${i} sent '${m.type}', expected '${type}'`);
    return m as Extract<FromWorker, { type: T }>;
  }

  /**
   * Loss and gradients (keyed by tf variable name, caller disposes) of multipleOutputLoss(DC+CE) over the whole
   * batch: shard 0 on this thread, shard i on worker i-1; each shard in chunks of `chunk` samples.
   */
  async computeGradients(
    net: GenericUNet,
    data: tf.Tensor,
    targets: readonly tf.Tensor[],
    weights: readonly number[],
    batchDice: boolean,
    chunk: number,
  ): Promise<{ loss: number; grads: tf.NamedTensorMap }> {
    if (this.closed) throw new Error('GradientWorkers: used after close()');
    const N = data.shape[0];
    const ranges = shardRanges(N, this.workers.length + 1);
    const remote = ranges.slice(1);
    const id = this.nextId++;
    const params = [...(await net.getValues()).values()];
    for (const [w, [a, b]] of remote.entries()) {
      const xs = sliceBatch(data, a, b);
      const ts = targets.map((t) => sliceBatch(t, a, b));
      const job: StepJob = {
        type: 'step',
        id,
        params: w === remote.length - 1 ? params : params.map((p) => p.slice()), // the last job takes the originals
        data: (await xs.data()) as Float32Array,
        dataShape: xs.shape,
        targets: (await Promise.all(ts.map((t) => t.data()))) as Int32Array[],
        targetShapes: ts.map((t) => t.shape),
        weights: [...weights],
        batchDice,
        chunk,
        totalN: N,
      };
      xs.dispose();
      tf.dispose(ts);
      this.workers[w].postMessage(job, [...job.params.map((p) => p.buffer as ArrayBuffer), job.data.buffer as ArrayBuffer, ...job.targets.map((t) => t.buffer as ArrayBuffer)]);
    }
    const [a0, b0] = ranges[0];
    const xs = sliceBatch(data, a0, b0);
    const ts = targets.map((t) => sliceBatch(t, a0, b0));
    let own;
    try {
      own = await accumulateGradientsShard(net, xs, ts, weights, batchDice, chunk, N, async (local) => {
        const sums: GlobalSums[] = [local];
        for (let w = 0; w < remote.length; w++) sums.push((await this.expect(w, 'sums')).sums);
        const global = combineSums(sums);
        for (let w = 0; w < remote.length; w++) this.workers[w].postMessage({ type: 'global', sums: global });
        return global;
      });
    } finally {
      xs.dispose();
      tf.dispose(ts);
    }
    let loss = own.lossPart + own.diceLoss;
    const grads = own.grads;
    const vars = net.trainableVariables();
    for (let w = 0; w < remote.length; w++) {
      const m = await this.expect(w, 'grads');
      if (m.id !== id) throw new Error(`GradientWorkers: worker ${w} answered step ${m.id}, expected ${id}`);
      loss += m.lossPart;
      vars.forEach((v, i) => {
        const g = m.grads[i];
        if (!g) return;
        const prev = grads[v.name];
        grads[v.name] = prev ? tf.tidy(() => tf.add(prev, tf.tensor(g, v.shape, 'float32'))) : tf.tensor(g, v.shape, 'float32');
        prev?.dispose();
      });
    }
    return { loss, grads };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
