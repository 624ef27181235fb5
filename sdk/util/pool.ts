/**
 * Worker-thread pool for per-case work (fingerprint, preprocessing, augmentation).
 *
 * `mapInWorkers(modulePath, fnName, inputs)` runs `require(modulePath)[fnName](input)` for every input on a pool of
 * worker threads and returns the outputs in input order. It works both from compiled JS and under ts-node (workers
 * register ts-node themselves when the module is a .ts file). Typed arrays in outputs are transferred, not copied.
 * `threads: 1` (or a single input) runs inline in this thread, which is what tests and debuggers want.
 */
import * as os from 'os';
import * as path from 'path';
import { MessagePort, Worker } from 'worker_threads';
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

/**
 * The one way this project starts a worker thread: `require(modulePath)[entry](parentPort, data)` in a new thread,
 * registering ts-node first when the module is a .ts source (tests, ts-node runs), so the same code runs from
 * compiled JS and from TypeScript. `entry` sets up its own message handling on the port.
 */
const MODULE_WORKER_SOURCE = `
const { parentPort, workerData } = require('worker_threads');
if (workerData.modulePath.endsWith('.ts')) require('ts-node').register({ transpileOnly: true });
const entry = require(workerData.modulePath)[workerData.entry];
if (typeof entry !== 'function') throw new Error(workerData.modulePath + ' has no exported function ' + workerData.entry);
entry(parentPort, workerData.data);
`;

export function startModuleWorker(modulePath: string, entry: string, data?: unknown): Worker {
  return new Worker(MODULE_WORKER_SOURCE, { eval: true, workerData: { modulePath: path.resolve(modulePath), entry, data } });
}

/** Worker side of mapInWorkers: runs `require(modulePath)[fnName](input)` per message, transfers typed arrays back. */
export function runMapWorker(port: MessagePort, data: { modulePath: string; fnName: string }): void {
  const fn = require(data.modulePath)[data.fnName] as ((x: unknown) => unknown) | undefined;
  port.on('message', async (msg: { index: number; input: unknown }) => {
    try {
      if (typeof fn !== 'function') throw new Error(`${data.modulePath} has no exported function ${data.fnName}`);
      const output = await fn(msg.input);
      port.postMessage({ index: msg.index, output }, collectTransferables(output));
    } catch (e) {
      port.postMessage({ index: msg.index, error: { message: String((e as Error)?.message ?? e), stack: (e as Error)?.stack } });
    }
  });
}

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
      const w = startModuleWorker(require.resolve('./pool'), 'runMapWorker', { modulePath, fnName });
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
