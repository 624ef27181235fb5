/**
 * The one place that selects the tfjs backend at run time.
 *
 * In a browser page (the web app, web/) the automatic order is webgpu, webgl, wasm, cpu; this module is
 * Node-free (Node-only packages are loaded lazily, only under Node).
 * Order in automatic mode: `tensorflow` through @tensorflow/tfjs-node-gpu (CUDA), then @tensorflow/tfjs-node, then
 * `webgpu` when a hardware adapter exists (Dawn in Node, see webgpu/dawn.ts; navigator.gpu in browsers), then `wasm`
 * (the default on CPU machines: single-thread SIMD, see docs/toolchain.md §3), then the pure-JS `cpu` backend.
 * Override with NNUNET_BACKEND=tensorflow|webgpu|wasm|cpu or `initBackend({backend})`; an explicit `webgpu` also
 * accepts a software adapter (Mesa llvmpipe: how the tests run it on CPU machines, correctness only). An explicitly requested backend that
 * fails to start is an error; in automatic mode every fallback is logged with its reason. Stock tfjs silently switches
 * to `cpu` when wasm setup fails (tfjs issue #3830), so after every `setBackend` we check what we actually got.
 */
import * as tf from '@tensorflow/tfjs';
import { registerFastWasmKernels } from './wasm_kernels';
import { registerWasmConvKernels, wasmConvKernelsStatus } from './wasm_conv';
import { envVar, isNode } from '../util/env';
import { describeAdapter, formatAdapter, GpuAdapterLike, WebGpuAdapterReport } from './webgpu/adapter';
import { watchWebGpuDevice } from './webgpu/device_errors';
import { registerWebGpuKernelFixes } from './webgpu/kernels';
import { registerWgslKernels } from './webgpu/wgsl_kernels';

/** How convolutions run on webgpu (NNUNET_CONV); see convWanted. */
export type ConvFormulation = 'tfjs' | 'ops' | 'wgsl';

/** 'webgl' exists in browsers only (the web app's fallback when there is no WebGPU). */
export type BackendName = 'tensorflow' | 'webgpu' | 'webgl' | 'wasm' | 'cpu';

export interface InitBackendOptions {
  /** Which backend to use; 'auto' (default) tries tensorflow (gpu, then cpu build), webgpu (hardware), wasm, cpu. */
  backend?: BackendName | 'auto';
  /** Log the selection (default true). */
  log?: boolean | ((line: string) => void);
  /**
   * webgpu only: the conv2d-based ops ('ops', default), tfjs's Conv3D kernels ('tfjs') or the ops with our WGSL
   * kernels ('wgsl': implicit-GEMM conv forward, fused norm + LeakyReLU); default NNUNET_CONV.
   */
  conv?: ConvFormulation;
  /** browsers: the URL folder holding tfjs-backend-wasm's .wasm files (tfjs `setWasmPaths`) */
  wasmPaths?: string;
}

export interface BackendInfo {
  backend: BackendName;
  /** For `tensorflow`: which npm package provided it. */
  package?: string;
  /** Reasons the preferred backends were skipped, in the order tried. */
  skipped: string[];
  /** Whether tfjs's own Conv3D kernels and gradients are used (native TensorFlow and WebGPU; see useNativeConv3d). */
  nativeConv3d: boolean;
  /** webgpu: the convolution formulation (NNUNET_CONV) */
  conv?: ConvFormulation;
  /** webgpu: the adapter (vendor, software or not, the limits that bound tensor sizes). */
  adapter?: WebGpuAdapterReport;
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
  if (s === 'tensorflow' || s === 'webgpu' || s === 'webgl' || s === 'wasm' || s === 'cpu') return s;
  throw new Error(`${source}: unknown backend '${v}' (expected tensorflow, webgpu, webgl, wasm, cpu or auto)`);
}

/**
 * The optional backend packages, each behind a literal require: a bundler (esbuild for bench/gpu) sees and bundles
 * the ones it is given and leaves the ones marked external to fail here at run time, as a missing package does.
 */
const OPTIONAL_PACKAGES: Record<string, () => unknown> = {
  '@tensorflow/tfjs-node-gpu': () => require('@tensorflow/tfjs-node-gpu'),
  '@tensorflow/tfjs-node': () => require('@tensorflow/tfjs-node'),
  '@tensorflow/tfjs-backend-webgpu': () => require('@tensorflow/tfjs-backend-webgpu'),
  '@tensorflow/tfjs-backend-wasm': () => require('@tensorflow/tfjs-backend-wasm'),
};

function tryRequire(pkg: string): { ok: true } | { ok: false; reason: string } {
  try {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    (OPTIONAL_PACKAGES[pkg] ?? (() => require(pkg)))();
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

/** The WebGPU adapter: navigator.gpu where it exists (browsers), else Dawn's (Node). Throws with the reasons. */
async function openWebGpuAdapter(allowSoftware: boolean): Promise<WebGpuAdapterReport> {
  const nav = (globalThis as { navigator?: { gpu?: { requestAdapter(o?: object): Promise<GpuAdapterLike | null> } } }).navigator;
  if (!isNode()) {
    if (!nav?.gpu) throw new Error('this browser has no WebGPU (navigator.gpu)');
    const a = await nav.gpu.requestAdapter({ powerPreference: 'high-performance' });
    if (!a) throw new Error('navigator.gpu.requestAdapter() returned no adapter');
    const report = describeAdapter(a, 'core', 'browser');
    if (report.software && !allowSoftware) throw new Error(`software adapter ${report.device || report.description} (not used automatically)`);
    return report;
  }
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const { openDawnAdapter } = require('./webgpu/dawn') as typeof import('./webgpu/dawn');
  return (await openDawnAdapter({ allowSoftware })).report;
}

/**
 * Linux without any GPU device node cannot have a hardware adapter: say so without starting Dawn (whose probe prints
 * Vulkan warnings on every CPU-only run). Returns the reason, or null when a GPU may be there.
 */
function noGpuDevice(): string | null {
  if (!isNode() || process.platform !== 'linux') return null;
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const fs = require('fs') as typeof import('fs');
  const has = (dir: string, re: RegExp) => {
    try {
      return fs.readdirSync(dir).some((f) => re.test(f));
    } catch {
      return false;
    }
  };
  if (has('/dev', /^(nvidia\d+|kfd|dxg)$/) || has('/dev/dri', /^renderD\d+$/)) return null;
  return 'no GPU device on this machine (no /dev/nvidia*, /dev/dri/renderD*, /dev/kfd, /dev/dxg)';
}

async function tryWebgpu(skipped: string[], allowSoftware: boolean): Promise<WebGpuAdapterReport | null> {
  let adapter: WebGpuAdapterReport;
  try {
    adapter = await openWebGpuAdapter(allowSoftware);
  } catch (e) {
    skipped.push(`webgpu: ${(e as Error).message}`);
    return null;
  }
  // the backend registers itself only if navigator.gpu exists when its module loads: load it after the adapter
  const r = tryRequire('@tensorflow/tfjs-backend-webgpu');
  if (!r.ok) {
    skipped.push(r.reason);
    return null;
  }
  registerWebGpuKernelFixes(); // rank-5 Pad and broadcast shaders that do not compile in tfjs 4.22; see kernels.ts
  registerWgslKernels(); // our own WGSL kernels, used with NNUNET_CONV=wgsl
  const err = await trySet('webgpu');
  if (err !== null) {
    skipped.push(`webgpu on ${formatAdapter(adapter)}: ${err}`);
    return null;
  }
  watchWebGpuDevice();
  return adapter;
}

async function tryWasm(skipped: string[], wasmPaths?: string): Promise<boolean> {
  const r = tryRequire('@tensorflow/tfjs-backend-wasm');
  if (!r.ok) {
    skipped.push(r.reason);
    return false;
  }
  if (wasmPaths) (OPTIONAL_PACKAGES['@tensorflow/tfjs-backend-wasm']() as { setWasmPaths(p: string): void }).setWasmPaths(wasmPaths);
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
      : parseBackendName(envVar('NNUNET_BACKEND') ?? 'auto', 'environment variable NNUNET_BACKEND');
  if (current && (requested === 'auto' || requested === current.backend) && tf.getBackend() === current.backend) {
    if (current.backend !== 'webgpu' || opts.conv === undefined) return current;
    const conv = convWanted(opts.conv);
    current = { ...current, conv, nativeConv3d: conv === 'tfjs' };
    log(`nnunet-ts backend: webgpu, conv3d ${convLabel(conv)}`);
    return current;
  }
  const skipped: string[] = [];
  let info: BackendInfo | null = null;
  const auto: BackendName[] = isNode() ? ['tensorflow', 'webgpu', 'wasm', 'cpu'] : ['webgpu', 'webgl', 'wasm', 'cpu'];
  const order: BackendName[] = requested === 'auto' ? auto : [requested];
  for (const name of order) {
    if (name === 'tensorflow') {
      const pkg = await tryTensorflow(skipped);
      if (pkg) info = { backend: 'tensorflow', package: pkg, skipped, nativeConv3d: true, threads: cpus().length };
    } else if (name === 'webgpu') {
      const noGpu = requested === 'auto' ? noGpuDevice() : null;
      const adapter = noGpu ? (skipped.push(`webgpu: ${noGpu}`), null) : await tryWebgpu(skipped, requested === 'webgpu');
      const conv = adapter ? convWanted(opts.conv) : 'ops';
      if (adapter) info = { backend: 'webgpu', skipped, nativeConv3d: conv === 'tfjs', conv, adapter, threads: 1 };
    } else if (name === 'wasm') {
      if (await tryWasm(skipped, opts.wasmPaths)) {
        const simd = (await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT')) as boolean;
        info = { backend: 'wasm', skipped, nativeConv3d: false, simd, convKernels: wasmConvKernelsStatus(), threads: 1 };
      }
    } else if (name === 'webgl') {
      const err = isNode() ? 'webgl exists in browsers only' : await trySet('webgl');
      if (err === null) info = { backend: 'webgl', skipped, nativeConv3d: false, threads: 1 };
      else skipped.push(`webgl: ${err}`);
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
        : info.backend === 'webgl'
          ? ' (browser WebGL)'
          : info.backend === 'webgpu'
          ? ` (${formatAdapter(info.adapter!)}${info.adapter!.software ? '; a software adapter: correctness only, slower than wasm' : ''}; conv3d ${convLabel(info.conv ?? 'ops')})`
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

/**
 * NNUNET_CONV=ops|tfjs|wgsl picks the convolution formulation on webgpu: the conv2d/matMul-based ops of ops.ts
 * (default), tfjs's own Conv3D kernels, or the ops with our WGSL kernels (webgpu/wgsl_kernels.ts) for the forward
 * convolutions, the stride-1 input gradients and the norm + LeakyReLU apply step. tfjs-backend-webgpu 4.22's Conv3DBackpropFilterV2 is wrong at network size: the filter
 * gradient of a 3x3x3 conv over a 40x56x40 hippocampus patch is off by 50 % (relative L2; 1->32 and 32->32 channels,
 * measured on Mesa llvmpipe; correct at 20x28x20), which the PyTorch training-step parity test found. Our ops compute
 * the same gradient within 7e-7. `npm run bench -- network --backend webgpu` times both.
 */
function convWanted(conv?: ConvFormulation): ConvFormulation {
  const v = (conv ?? envVar('NNUNET_CONV') ?? 'ops').trim().toLowerCase();
  if (v !== 'tfjs' && v !== 'ops' && v !== 'wgsl') throw new Error(`environment variable NNUNET_CONV: expected tfjs, ops or wgsl, got '${v}'`);
  return v;
}

function convLabel(c: ConvFormulation): string {
  return c === 'tfjs' ? 'tfjs kernels' : c === 'wgsl' ? 'nnunet-ts ops + WGSL kernels' : 'nnunet-ts ops';
}

/** Whether ops.ts uses our WGSL kernels (webgpu with NNUNET_CONV=wgsl; webgpu/wgsl_kernels.ts). */
export function useWgslKernels(): boolean {
  return current !== null && current.conv === 'wgsl' && tf.getBackend() === 'webgpu';
}

/**
 * Whether to use tfjs's own Conv3D kernels and gradients: on native TensorFlow (correct and fast), and on webgpu only
 * with NNUNET_CONV=tfjs (its filter gradient is wrong at network size, see nativeConvWanted). Elsewhere our
 * conv2d-based ops are used (ops.ts says why).
 */
export function useNativeConv3d(): boolean {
  return current !== null && current.nativeConv3d && tf.getBackend() === current.backend;
}

export interface DoctorReport {
  backend: BackendName;
  backendPackage?: string;
  skipped: string[];
  simd?: boolean;
  threads: number;
  versions: { node: string; tfjs: string; tfjsCore: string; wasm?: string; typescript?: string };
  cpus: { count: number; model: string };
  /**
   * The WebGPU adapter: the one in use (backend webgpu), else what this machine offers (a software adapter included,
   * marked so), or why there is none.
   */
  webgpu: { adapter?: WebGpuAdapterReport; line: string };
  /** Speed probe: a conv2d of [8,64,64,32] x [3,3,32,32] ('same'), best of 3. */
  probe: { op: string; seconds: number; gflops: number };
  /** One-line summary, as `nnunet-ts doctor` prints it. */
  line: string;
}

/** Node's os.cpus() (loaded lazily: this module is also bundled for browsers, which report navigator.hardwareConcurrency). */
function cpus(): { model: string }[] {
  if (!isNode()) {
    const n = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency ?? 1;
    return new Array(n).fill({ model: 'browser' });
  }
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  return (require('os') as typeof import('os')).cpus();
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
  let webgpu: DoctorReport['webgpu'];
  if (info.adapter) webgpu = { adapter: info.adapter, line: `in use: ${formatAdapter(info.adapter)}` };
  else {
    try {
      const adapter = await openWebGpuAdapter(true);
      webgpu = {
        adapter,
        line: `available: ${formatAdapter(adapter)}${adapter.software ? ' (software: automatic selection skips it; NNUNET_BACKEND=webgpu uses it)' : ''}`,
      };
    } catch (e) {
      webgpu = { line: `none: ${(e as Error).message}` };
    }
  }
  const flops = 2 * n * h * w * c * co * 9;
  const gflops = flops / best / 1e9;
  const cpuList = cpus();
  const versions = {
    node: isNode() ? process.versions.node : 'none (browser)',
    tfjs: pkgVersion('@tensorflow/tfjs') ?? 'unknown',
    tfjsCore: pkgVersion('@tensorflow/tfjs-core') ?? tf.version_core,
    wasm: pkgVersion('@tensorflow/tfjs-backend-wasm'),
    typescript: pkgVersion('typescript'),
  };
  const line =
    `backend ${info.backend}${info.package ? ` (${info.package})` : ''}${info.simd ? ' simd' : ''}` +
    `${info.convKernels ? `, conv kernels ${info.convKernels}` : ''}, ` +
    `${info.threads} thread(s), tfjs ${versions.tfjs}, node ${versions.node}, ${cpuList.length} cpu(s); ` +
    `probe conv2d 3x3 ${n}x${h}x${w}x${c}->${co}: ${best.toFixed(3)} s, ${gflops.toFixed(1)} GFLOP/s`;
  return {
    backend: info.backend,
    backendPackage: info.package,
    skipped: info.skipped,
    simd: info.simd,
    threads: info.threads,
    versions,
    cpus: { count: cpuList.length, model: cpuList[0]?.model ?? 'unknown' },
    webgpu,
    probe: { op: `conv2d [${n},${h},${w},${c}]x[3,3,${c},${co}]`, seconds: best, gflops },
    line,
  };
}
