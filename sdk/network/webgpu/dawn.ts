/**
 * WebGPU in Node through Dawn: the npm `webgpu` package (optional dependency; its dawn.node ships prebuilt in the
 * tarball). Node-only; the browser has navigator.gpu already.
 *
 * tfjs-backend-webgpu looks for `navigator.gpu` when its module loads and asks it for an adapter when the backend
 * starts, so this module opens the adapter first and then exposes it as `navigator.gpu` (docs: gpu-and-scale.md).
 *
 * Adapter choice: Dawn's default native backend (Vulkan on Linux, Metal on macOS, D3D12 on Windows) and a hardware
 * adapter; with `allowSoftware` and no hardware adapter, Mesa's OpenGL ES (llvmpipe) in WebGPU compatibility mode,
 * headless (EGL_PLATFORM=surfaceless). Dawn's Vulkan on Mesa's lavapipe does not start on Debian 12 (measured).
 */
import * as path from 'path';
import { describeAdapter, GpuAdapterLike, WebGpuAdapterReport } from './adapter';

interface DawnModule {
  create(flags: string[]): { requestAdapter(o?: Record<string, unknown>): Promise<(GpuAdapterLike & { requestDevice(d?: unknown): Promise<unknown> }) | null> };
  globals: Record<string, unknown>;
}

export interface DawnAdapter {
  report: WebGpuAdapterReport;
  /** The Dawn instance flags it was opened with. */
  flags: string[];
  /** Adapters that were found and not taken, and why (e.g. a software adapter in automatic mode). */
  passedOver: string[];
}

let opened: { dawn: DawnModule; adapter: DawnAdapter } | null = null;

/** Where dawn.node is: NNUNET_DAWN_NODE (the bench/gpu bundle sets it), else the `webgpu` package's own build. */
export function dawnNodePath(): string {
  if (process.env.NNUNET_DAWN_NODE) return path.resolve(process.env.NNUNET_DAWN_NODE);
  const pkg = require.resolve('webgpu/package.json');
  const arch = process.platform === 'darwin' ? 'universal' : process.arch;
  return path.join(path.dirname(pkg), 'dist', `${process.platform}-${arch}`, 'dawn.node');
}

function loadDawn(): DawnModule {
  const file = dawnNodePath();
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  return require(file) as DawnModule;
}

function nativeBackendName(): string {
  return process.platform === 'darwin' ? 'metal' : process.platform === 'win32' ? 'd3d12' : 'vulkan';
}

/**
 * Open a Dawn adapter and install it as `navigator.gpu`. Throws with every reason when none qualifies (no dawn.node,
 * no adapter, or only a software one without `allowSoftware`). Idempotent: a second call returns the first adapter.
 */
export async function openDawnAdapter(opts: { allowSoftware: boolean }): Promise<DawnAdapter> {
  if (opened) {
    if (opened.adapter.report.software && !opts.allowSoftware) {
      throw new Error(`only a software WebGPU adapter is open (${opened.adapter.report.device || opened.adapter.report.description})`);
    }
    return opened.adapter;
  }
  let dawn: DawnModule;
  try {
    dawn = loadDawn();
  } catch (e) {
    throw new Error(`webgpu (Dawn for Node) not loadable: ${(e as Error).message.split('\n')[0]} (install the optional dependency 'webgpu')`);
  }
  for (const [k, v] of Object.entries(dawn.globals)) if (!(k in globalThis)) (globalThis as Record<string, unknown>)[k] = v;
  const passedOver: string[] = [];
  const extra = (process.env.NNUNET_DAWN_FLAGS ?? '').split(/\s+/).filter(Boolean);
  type Try = { flags: string[]; featureLevel: 'core' | 'compatibility'; source: string };
  const tries: Try[] = [{ flags: extra, featureLevel: 'core', source: extra.find((f) => f.startsWith('backend='))?.slice(8) ?? nativeBackendName() }];
  if (opts.allowSoftware) tries.push({ flags: ['backend=opengles', ...extra.filter((f) => !f.startsWith('backend='))], featureLevel: 'compatibility', source: 'opengles' });
  for (const t of tries) {
    if (t.source === 'opengles' || t.source === 'opengl') process.env.EGL_PLATFORM ??= 'surfaceless'; // headless EGL (Mesa)
    const gpu = dawn.create(t.flags);
    const ask = (o: Record<string, unknown> = {}) =>
      gpu.requestAdapter({ powerPreference: 'high-performance', ...o, ...(t.featureLevel === 'compatibility' ? { featureLevel: 'compatibility' } : {}) });
    let adapter: Awaited<ReturnType<typeof ask>>;
    try {
      adapter = await ask();
    } catch (e) {
      passedOver.push(`${t.source}: requestAdapter threw ${(e as Error).message}`);
      continue;
    }
    if (!adapter) {
      passedOver.push(`${t.source}: no adapter${t.source === 'vulkan' ? ' (no Vulkan driver or loader libvulkan.so.1)' : ''}`);
      continue;
    }
    const report = describeAdapter(adapter, t.featureLevel, t.source);
    if (report.software && !opts.allowSoftware) {
      passedOver.push(`${t.source}: software adapter ${report.device || report.description} (not used automatically)`);
      continue;
    }
    // tfjs asks navigator.gpu for an adapter each time the backend starts; an adapter gives one device, so ask anew
    Object.defineProperty(globalThis, 'navigator', {
      configurable: true,
      value: { ...((globalThis as { navigator?: object }).navigator ?? {}), gpu: { requestAdapter: ask, getPreferredCanvasFormat: () => 'rgba8unorm', keepAlive: gpu } },
    });
    const adapterInfo: DawnAdapter = { report, flags: t.flags, passedOver };
    opened = { dawn, adapter: adapterInfo };
    return adapterInfo;
  }
  throw new Error(`no usable WebGPU adapter: ${passedOver.join('; ')}`);
}
