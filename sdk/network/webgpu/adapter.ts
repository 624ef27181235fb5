/**
 * What a WebGPU adapter is, in the terms that decide whether nnunet-ts should train on it. No Node imports: the
 * browser build reports its adapter through the same function.
 *
 * Software adapters: Mesa's llvmpipe (OpenGL ES, what CI uses for correctness), lavapipe (Vulkan), SwiftShader
 * (Chromium's fallback). They run every kernel correctly but slower than the wasm backend, so automatic backend
 * selection never picks them; `NNUNET_BACKEND=webgpu` still may (that is how the tests run here).
 */

/** The limits that bound nnU-Net's tensors on a GPU (bytes). */
export interface WebGpuLimits {
  /** Largest single buffer: one tensor (a Lung 3d_fullres feature map, batch 2, 32 channels, float32: 315 MB). */
  maxBufferSize: number;
  /** Largest buffer one shader may bind: tfjs binds whole tensors, so this is the real per-tensor limit. */
  maxStorageBufferBindingSize: number;
  /** Shared memory per workgroup: bounds the tile sizes of matMul/conv kernels. */
  maxComputeWorkgroupStorageSize: number;
  maxComputeInvocationsPerWorkgroup: number;
  maxStorageBuffersPerShaderStage: number;
}

export interface WebGpuAdapterReport {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** The adapter reports itself as a fallback (WebGPU's isFallbackAdapter). */
  fallback: boolean;
  /** A CPU implementation (llvmpipe, lavapipe, SwiftShader, ...), whatever it reports as `fallback`. */
  software: boolean;
  /** 'core' or 'compatibility' (OpenGL ES adapters exist only in compatibility mode). */
  featureLevel: 'core' | 'compatibility';
  /** Where it came from: Dawn's native backend in Node ('vulkan', 'metal', 'd3d12', 'opengles'), or 'browser'. */
  source: string;
  limits: WebGpuLimits;
  features: string[];
}

/** Minimal structural view of GPUAdapter (lib.dom's WebGPU types are not in this project's TypeScript lib). */
export interface GpuAdapterLike {
  info?: { vendor?: string; architecture?: string; device?: string; description?: string; isFallbackAdapter?: boolean };
  isFallbackAdapter?: boolean;
  limits: Record<string, number> & Partial<WebGpuLimits>;
  features: Iterable<string>;
}

const SOFTWARE = /llvmpipe|lavapipe|softpipe|swiftshader|software|microsoft basic render/i;

/** Whether an adapter's strings name a CPU implementation. */
export function isSoftwareAdapter(a: Pick<WebGpuAdapterReport, 'vendor' | 'architecture' | 'device' | 'description' | 'fallback'>): boolean {
  return a.fallback || SOFTWARE.test(`${a.vendor} ${a.architecture} ${a.device} ${a.description}`);
}

export function describeAdapter(adapter: GpuAdapterLike, featureLevel: 'core' | 'compatibility', source: string): WebGpuAdapterReport {
  const info = adapter.info ?? {};
  const fallback = Boolean(info.isFallbackAdapter ?? adapter.isFallbackAdapter ?? false);
  const base = {
    vendor: info.vendor ?? '',
    architecture: info.architecture ?? '',
    device: info.device ?? '',
    description: info.description ?? '',
    fallback,
  };
  const l = adapter.limits;
  return {
    ...base,
    software: isSoftwareAdapter(base),
    featureLevel,
    source,
    limits: {
      maxBufferSize: Number(l.maxBufferSize),
      maxStorageBufferBindingSize: Number(l.maxStorageBufferBindingSize),
      maxComputeWorkgroupStorageSize: Number(l.maxComputeWorkgroupStorageSize),
      maxComputeInvocationsPerWorkgroup: Number(l.maxComputeInvocationsPerWorkgroup),
      maxStorageBuffersPerShaderStage: Number(l.maxStorageBuffersPerShaderStage),
    },
    features: [...adapter.features].sort(),
  };
}

const MB = 1024 * 1024;

/** One line: `NVIDIA (hopper) NVIDIA H200, vulkan, core; maxBuffer 4096 MB, maxStorageBinding 4096 MB, workgroup storage 32 KB`. */
export function formatAdapter(a: WebGpuAdapterReport): string {
  const name = [a.vendor, a.architecture ? `(${a.architecture})` : '', a.device || a.description].filter(Boolean).join(' ') || 'unnamed adapter';
  const kind = a.software ? `software${a.fallback ? ', fallback' : ''}` : 'hardware';
  return (
    `${name} [${kind}, ${a.source}, ${a.featureLevel}]; ` +
    `maxBufferSize ${Math.round(a.limits.maxBufferSize / MB)} MB, maxStorageBufferBindingSize ${Math.round(a.limits.maxStorageBufferBindingSize / MB)} MB, ` +
    `maxComputeWorkgroupStorageSize ${Math.round(a.limits.maxComputeWorkgroupStorageSize / 1024)} KB`
  );
}
