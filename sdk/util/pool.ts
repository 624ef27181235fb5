/**
 * Worker-thread pool for per-case work (fingerprint, preprocessing, augmentation).
 *
 * `mapInWorkers(modulePath, fnName, inputs)` runs `require(modulePath)[fnName](input)` for every input on a pool of
 * worker threads and returns the outputs in input order. It works both from compiled JS and under ts-node (workers
 * register ts-node themselves when the module is a .ts file). Typed arrays in outputs are transferred, not copied.
 * `threads: 1` (or a single input) runs inline in this thread, which is what tests and debuggers want.
 */
import * as os from 'os';
import { Worker } from 'worker_threads';
import { progress } from './progress';

export interface PoolOptions {
  /** Number of worker threads; default: cores available (os.availableParallelism()). */
  threads?: number;
  /** Progress-bar label; no bar when omitted. */
  label?: string;
  /** Name each input in error messages (e.g. the case id). */
  describe?: (input: unknown, index: number) => string;
}

export function defaultThreads(): number {
  const env = Number(process.env.NNUNET_THREADS);
  if (Number.isInteger(env) && env > 0) return env;
  return Math.max(1, typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length);
}

/** Collect ArrayBuffers of typed arrays (a few levels deep) so they can be transferred. */
export function collectTransferables(value: unknown, out: ArrayBuffer[] = [], depth = 0): ArrayBuffer[] {
  if (depth > 4 || value === null || typeof value !== 'object') return out;
  if (ArrayBuffer.isView(value)) {
    const buf = value.buffer;
    if (buf instanceof ArrayBuffer && !out.includes(buf) && value.byteLength === buf.byteLength) out.push(buf);
    return out;
  }
  if (Array.isArray(value)) {
    for (const v of value) collectTransferables(v, out, depth + 1);
    return out;
  }
  for (const v of Object.values(value as Record<string, unknown>)) collectTransferables(v, out, depth + 1);
  return out;
}

const WORKER_SOURCE = `
const { parentPort, workerData } = require('worker_threads');
if (workerData.modulePath.endsWith('.ts')) {
  require('ts-node').register({ transpileOnly: true });
}
const mod = require(workerData.modulePath);
const fn = mod[workerData.fnName];
const collect = (${collectTransferables.toString()});
parentPort.on('message', async (msg) => {
  try {
    if (typeof fn !== 'function') throw new Error(workerData.modulePath + ' has no exported function ' + workerData.fnName);
    const output = await fn(msg.input);
    parentPort.postMessage({ index: msg.index, output }, collect(output, [], 0));
  } catch (e) {
    parentPort.postMessage({ index: msg.index, error: { message: String(e && e.message || e), stack: e && e.stack } });
  }
});
`;

export async function mapInWorkers<I, O>(
  modulePath: string,
  fnName: string,
  inputs: readonly I[],
  opts: PoolOptions = {},
): Promise<O[]> {
  const threads = Math.max(1, Math.min(opts.threads ?? defaultThreads(), inputs.length));
  const bar = opts.label ? progress(opts.label, inputs.length) : null;
  const describe = (i: number) => (opts.describe ? opts.describe(inputs[i], i) : `input ${i}`);
  const outputs: O[] = new Array(inputs.length);
  if (inputs.length === 0) {
    bar?.done();
    return outputs;
  }
  if (threads === 1) {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const fn = require(modulePath)[fnName] as ((x: I) => O | Promise<O>) | undefined;
    if (typeof fn !== 'function') throw new Error(`${modulePath} has no exported function ${fnName}`);
    for (let i = 0; i < inputs.length; i++) {
      try {
        outputs[i] = await fn(inputs[i]);
      } catch (e) {
        throw new Error(`${describe(i)}: ${(e as Error).message}`, { cause: e });
      }
      bar?.tick();
    }
    bar?.done();
    return outputs;
  }

  return new Promise<O[]>((resolve, reject) => {
    const workers: Worker[] = [];
    let next = 0;
    let finished = 0;
    let failed = false;
    const stopAll = () => {
      for (const w of workers) void w.terminate();
    };
    const feed = (w: Worker) => {
      if (next < inputs.length) {
        const index = next++;
        w.postMessage({ index, input: inputs[index] });
      }
    };
    for (let t = 0; t < threads; t++) {
      const w = new Worker(WORKER_SOURCE, { eval: true, workerData: { modulePath, fnName } });
      workers.push(w);
      w.on('message', (msg: { index: number; output?: O; error?: { message: string; stack?: string } }) => {
        if (failed) return;
        if (msg.error) {
          failed = true;
          stopAll();
          const err = new Error(`${describe(msg.index)}: ${msg.error.message}`);
          if (msg.error.stack) err.stack = `${err.message}\n(worker) ${msg.error.stack}`;
          reject(err);
          return;
        }
        outputs[msg.index] = msg.output as O;
        finished++;
        bar?.tick();
        if (finished === inputs.length) {
          bar?.done();
          stopAll();
          resolve(outputs);
        } else feed(w);
      });
      w.on('error', (e) => {
        if (failed) return;
        failed = true;
        stopAll();
        reject(new Error(`worker for ${modulePath}#${fnName} crashed: ${e.message}`, { cause: e }));
      });
      feed(w);
    }
  });
}
