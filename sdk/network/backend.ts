/**
 * The one place that selects the tfjs backend at run time.
 *
 * Order in automatic mode: `tensorflow` through @tensorflow/tfjs-node-gpu (CUDA), then @tensorflow/tfjs-node, then
 * `wasm` (the default on this machine: single-thread SIMD, see docs/toolchain.md §3), then the pure-JS `cpu` backend.
 * Override with NNUNET_BACKEND=tensorflow|wasm|cpu or `initBackend({backend})`. An explicitly requested backend that
 * fails to start is an error; in automatic mode every fallback is logged with its reason. Stock tfjs silently switches
 * to `cpu` when wasm setup fails (tfjs issue #3830), so after every `setBackend` we check what we actually got.
 */
import * as tf from '@tensorflow/tfjs';
import { registerFastWasmKernels } from './wasm_kernels';
import { registerWasmConvKernels, wasmConvKernelsStatus } from './wasm_conv';
import * as os from 'os';

export type BackendName = 'tensorflow' | 'wasm' | 'cpu';

export interface InitBackendOptions {
  /** Which backend to use; 'auto' (default) tries tensorflow (gpu, then cpu build), wasm, cpu in that order. */
  backend?: BackendName | 'auto';
  /** Log the selection (default true). */
  log?: boolean | ((line: string) => void);
}

export interface BackendInfo {
  backend: BackendName;
  /** For `tensorflow`: which npm package provided it. */
  package?: string;
  /** Reasons the preferred backends were skipped, in the order tried. */
  skipped: string[];
  /** Whether the backend has native Conv3D kernels we trust (native TensorFlow only). */
  nativeConv3d: boolean;
  simd?: boolean;
  /**
   * wasm: our SIMD convolution kernels (wasm_conv.ts): 'fma' (relaxed-SIMD multiply-add), 'simd' (mul + add), or
   * 'off' (not available here, or switched off: every convolution then goes through XNNPACK's conv2d).
   */
  convKernels?: 'fma' | 'simd' | 'off';
  threads: number;
}

let current: BackendInfo | null = null;

function logger(opt: InitBackendOptions['log']): (line: string) => void {
  if (opt === false) return () => undefined;
  if (typeof opt === 'function') return opt;
  return (line) => console.log(line);
}

function parseBackendName(v: string, source: string): BackendName | 'auto' {
  const s = v.trim().toLowerCase();
  if (s === 'auto' || s === '') return 'auto';
  if (s === 'tensorflow' || s === 'wasm' || s === 'cpu') return s;
  throw new Error(`${source}: unknown backend '${v}' (expected tensorflow, wasm, cpu or auto)`);
}

function tryRequire(pkg: string): { ok: true } | { ok: false; reason: string } {
  try {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    require(pkg);
    return { ok: true };
  } catch (e) {
    const msg = (e as Error).message.split('\n')[0];
    return { ok: false, reason: `${pkg} not loadable (${msg})` };
  }
}

async function trySet(name: string): Promise<string | null> {
  let ok: boolean;
  try {
    ok = await tf.setBackend(name);
    await tf.ready();
  } catch (e) {
    return `tf.setBackend('${name}') threw: ${(e as Error).message}`;
  }
  const got = tf.getBackend();
  if (!ok || got !== name) {
    return `tf.setBackend('${name}') failed (tfjs reports backend '${got}', setBackend returned ${ok})`;
  }
  return null;
}

async function tryTensorflow(skipped: string[]): Promise<string | null> {
  for (const pkg of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']) {
    const r = tryRequire(pkg);
    if (!r.ok) {
      skipped.push(r.reason);
      continue;
    }
    const err = await trySet('tensorflow');
    if (err === null) return pkg;
    skipped.push(`${pkg}: ${err}`);
  }
  return null;
}

async function tryWasm(skipped: string[]): Promise<boolean> {
  const r = tryRequire('@tensorflow/tfjs-backend-wasm');
  if (!r.ok) {
    skipped.push(r.reason);
    return false;
  }
  // Multithreaded wasm cannot start under Node (tfjs #3830) and gives no gain on a shared 2-core box
  // (toolchain.md §3): always the single-thread SIMD build.
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
  registerFastWasmKernels(); // stock Slice copies its whole input first; see wasm_kernels.ts
  registerWasmConvKernels(); // our SIMD conv forward and filter gradient; see wasm_conv.ts
  const err = await trySet('wasm');
  if (err !== null) {
    skipped.push(err);
    return false;
  }
  return true;
}

/**
 * Select and initialise the backend. Idempotent: a second call with the same (or no) request returns the current
 * selection. The choice is logged as one line, e.g. `nnunet-ts backend: wasm (simd, 1 thread, conv kernels fma)`.
 */
export async function initBackend(opts: InitBackendOptions = {}): Promise<BackendInfo> {
  const log = logger(opts.log);
  const requested: BackendName | 'auto' =
    opts.backend !== undefined
      ? parseBackendName(opts.backend, 'initBackend({backend})')
      : parseBackendName(process.env.NNUNET_BACKEND ?? 'auto', 'environment variable NNUNET_BACKEND');
  if (current && (requested === 'auto' || requested === current.backend) && tf.getBackend() === current.backend) {
    return current;
  }
  const skipped: string[] = [];
  let info: BackendInfo | null = null;
  const order: BackendName[] = requested === 'auto' ? ['tensorflow', 'wasm', 'cpu'] : [requested];
  for (const name of order) {
    if (name === 'tensorflow') {
      const pkg = await tryTensorflow(skipped);
      if (pkg) info = { backend: 'tensorflow', package: pkg, skipped, nativeConv3d: true, threads: os.cpus().length };
    } else if (name === 'wasm') {
      if (await tryWasm(skipped)) {
        const simd = (await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT')) as boolean;
        info = { backend: 'wasm', skipped, nativeConv3d: false, simd, convKernels: wasmConvKernelsStatus(), threads: 1 };
      }
    } else {
      const err = await trySet('cpu');
      if (err === null) info = { backend: 'cpu', skipped, nativeConv3d: false, threads: 1 };
      else skipped.push(err);
    }
    if (info) break;
  }
  if (!info) {
    throw new Error(
      `nnunet-ts: could not initialise the requested tfjs backend '${requested}': ${skipped.join('; ')}`,
    );
  }
  current = info;
  const detail =
    info.backend === 'wasm'
      ? ` (${info.simd ? 'simd' : 'no simd'}, 1 thread, conv kernels ${info.convKernels})`
      : info.backend === 'tensorflow'
        ? ` (${info.package})`
        : ' (pure JS, slow)';
  log(`nnunet-ts backend: ${info.backend}${detail}`);
  if (requested === 'auto' && skipped.length) log(`nnunet-ts backend: skipped ${skipped.join('; ')}`);
  return info;
}

/** The current selection; throws when `initBackend` has not run (or someone switched the backend behind our back). */
export function backendInfo(): BackendInfo {
  if (!current) throw new Error('nnunet-ts: initBackend() has not been called');
  const got = tf.getBackend();
  if (got !== current.backend) {
    throw new Error(`nnunet-ts: backend changed from '${current.backend}' to '${got}' outside initBackend()`);
  }
  return current;
}

/** Whether to use tfjs's own Conv3D kernels (true only on native TensorFlow, whose kernels are correct and fast). */
export function useNativeConv3d(): boolean {
  return current !== null && current.backend === 'tensorflow' && tf.getBackend() === 'tensorflow';
}

export interface DoctorReport {
  backend: BackendName;
  backendPackage?: string;
  skipped: string[];
  simd?: boolean;
  threads: number;
  versions: { node: string; tfjs: string; tfjsCore: string; wasm?: string; typescript?: string };
  cpus: { count: number; model: string };
  /** Speed probe: a conv2d of [8,64,64,32] x [3,3,32,32] ('same'), best of 3. */
  probe: { op: string; seconds: number; gflops: number };
  /** One-line summary, as `nnunet-ts doctor` prints it. */
  line: string;
}

function pkgVersion(name: string): string | undefined {
  try {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    return (require(`${name}/package.json`) as { version: string }).version;
  } catch {
    return undefined;
  }
}

/** Backend, versions, threads and a one-line speed probe (GFLOP/s of a typical U-Net convolution). */
export async function doctor(opts: InitBackendOptions = {}): Promise<DoctorReport> {
  const info = await initBackend({ log: false, ...opts });
  const [n, h, w, c, co] = [8, 64, 64, 32, 32];
  const x = tf.randomNormal([n, h, w, c]) as tf.Tensor4D;
  const k = tf.randomNormal([3, 3, c, co]) as tf.Tensor4D;
  let best = Infinity;
  for (let i = 0; i < 3; i++) {
    const t0 = performance.now();
    const y = tf.conv2d(x, k, 1, 'same');
    await y.data();
    best = Math.min(best, (performance.now() - t0) / 1000);
    y.dispose();
  }
  x.dispose();
  k.dispose();
  const flops = 2 * n * h * w * c * co * 9;
  const gflops = flops / best / 1e9;
  const cpus = os.cpus();
  const versions = {
    node: process.versions.node,
    tfjs: pkgVersion('@tensorflow/tfjs') ?? 'unknown',
    tfjsCore: pkgVersion('@tensorflow/tfjs-core') ?? tf.version_core,
    wasm: pkgVersion('@tensorflow/tfjs-backend-wasm'),
    typescript: pkgVersion('typescript'),
  };
  const line =
    `backend ${info.backend}${info.package ? ` (${info.package})` : ''}${info.simd ? ' simd' : ''}` +
    `${info.convKernels ? `, conv kernels ${info.convKernels}` : ''}, ` +
    `${info.threads} thread(s), tfjs ${versions.tfjs}, node ${versions.node}, ${cpus.length} cpu(s); ` +
    `probe conv2d 3x3 ${n}x${h}x${w}x${c}->${co}: ${best.toFixed(3)} s, ${gflops.toFixed(1)} GFLOP/s`;
  return {
    backend: info.backend,
    backendPackage: info.package,
    skipped: info.skipped,
    simd: info.simd,
    threads: info.threads,
    versions,
    cpus: { count: cpus.length, model: cpus[0]?.model ?? 'unknown' },
    probe: { op: `conv2d [${n},${h},${w},${c}]x[3,3,${c},${co}]`, seconds: best, gflops },
    line,
  };
}
