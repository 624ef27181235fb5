/**
 * Network weights as bytes: the manifest (`<prefix>.json`: architecture, tensor list) and the little-endian float32
 * blob (`<prefix>.bin`). Node-free: the browser build (web/) builds its networks from the same two files the
 * checkpoints hold; weights.ts reads and writes them.
 */
import { buildArchitecture, NetworkArchitecture, parameterCount } from './architecture';
import { GenericUNet } from './generic_unet';

export const WEIGHTS_FORMAT = 'nnunet-ts-weights';
export const WEIGHTS_VERSION = 1;

export interface WeightsManifest {
  format: typeof WEIGHTS_FORMAT;
  version: number;
  architecture: NetworkArchitecture;
  parameterCount: number;
  blob: string;
  tensors: { name: string; shape: number[]; dtype: 'float32'; offset: number; length: number }[];
}

/** Where one tensor lies in a blob (bytes from `offset`, `length` float32 values). */
export interface TensorEntry {
  name: string;
  shape: number[];
  offset: number;
  length: number;
}

/** Tensors in `params`' order, little-endian float32, one after the other (our weights blob layout). */
export function packTensors(params: readonly { name: string; shape: number[] }[], values: Map<string, Float32Array>): { tensors: TensorEntry[]; blob: Uint8Array } {
  const tensors: TensorEntry[] = [];
  let offset = 0;
  for (const p of params) {
    const v = values.get(p.name);
    if (!v) throw new Error(`packTensors: no values for ${p.name}`);
    tensors.push({ name: p.name, shape: p.shape, offset, length: v.length });
    offset += v.length * 4;
  }
  const blob = new Uint8Array(offset);
  const dv = new DataView(blob.buffer);
  for (const t of tensors) {
    const v = values.get(t.name)!;
    for (let i = 0; i < v.length; i++) dv.setFloat32(t.offset + 4 * i, v[i], true);
  }
  return { tensors, blob };
}

/** Refuse a tensor list that is not `params` (names and shapes, in order); `name` is its file, for the error. */
export function checkTensorList(params: readonly { name: string; shape: number[] }[], tensors: readonly { name: string; shape: number[] }[], name: string): void {
  if (params.length !== tensors.length || params.some((p, i) => p.name !== tensors[i].name || p.shape.join() !== tensors[i].shape.join())) {
    throw new Error(`${name}: tensor list does not match the architecture's parameters`);
  }
}

/** Refuse a blob of `byteLength` bytes too short for a tensor, naming it (`blobName`: the file, for the error). */
export function checkBlobLength(tensors: readonly TensorEntry[], byteLength: number, blobName: string): void {
  for (const t of tensors) {
    if (t.offset + 4 * t.length > byteLength) {
      throw new Error(`${blobName}: truncated (tensor ${t.name} needs bytes up to ${t.offset + 4 * t.length}, file has ${byteLength})`);
    }
  }
}

/** The tensors of a blob; a blob too short for one names it and the tensor (`blobName`: the file, for the error). */
export function unpackTensors(tensors: readonly TensorEntry[], bytes: Uint8Array, blobName: string): Map<string, Float32Array> {
  checkBlobLength(tensors, bytes.byteLength, blobName);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const values = new Map<string, Float32Array>();
  for (const t of tensors) {
    const v = new Float32Array(t.length);
    for (let i = 0; i < t.length; i++) v[i] = dv.getFloat32(t.offset + 4 * i, true);
    values.set(t.name, v);
  }
  return values;
}

/** Manifest and blob of a network's weights, in the architecture's parameter order. */
export async function encodeWeights(net: GenericUNet, blobName: string): Promise<{ manifest: WeightsManifest; blob: Uint8Array }> {
  const arch = net.architecture;
  const packed = packTensors(arch.params, await net.getValues());
  const tensors: WeightsManifest['tensors'] = packed.tensors.map((t) => ({ ...t, dtype: 'float32' }));
  const blob = packed.blob;
  const manifest: WeightsManifest = {
    format: WEIGHTS_FORMAT,
    version: WEIGHTS_VERSION,
    architecture: arch,
    parameterCount: parameterCount(arch),
    blob: blobName,
    tensors,
  };
  return { manifest, blob };
}

/** Validate a manifest (`name` is its file, for the errors). */
export function checkWeightsManifest(m: WeightsManifest, name: string): void {
  if (!m || m.format !== WEIGHTS_FORMAT) throw new Error(`${name}: not an nnunet-ts weights manifest (format '${m && m.format}')`);
  if (m.version !== WEIGHTS_VERSION) throw new Error(`${name}: unsupported weights version ${m.version} (this build reads ${WEIGHTS_VERSION})`);
  checkTensorList(m.architecture?.params ?? [], m.tensors, name);
}

/** The tensors of a blob (`blobName` for the errors: a truncated blob names the first tensor it cuts). */
export function decodeWeights(m: WeightsManifest, bytes: Uint8Array, name: string, blobName: string): Map<string, Float32Array> {
  checkWeightsManifest(m, name);
  for (const t of m.tensors) if (t.dtype !== 'float32') throw new Error(`${name}: tensor ${t.name} has unsupported dtype ${t.dtype}`);
  return unpackTensors(m.tensors, bytes, blobName);
}

/** First difference between two architectures, or null when they are the same network. */
export function architectureDifference(a: NetworkArchitecture, b: NetworkArchitecture): string | null {
  const keys: (keyof NetworkArchitecture)[] = [
    'format', 'version', 'dim', 'numInputChannels', 'numClasses', 'baseNumFeatures', 'maxNumFeatures',
    'convPerStage', 'poolOpKernelSizes', 'convKernelSizes',
  ];
  for (const k of keys) {
    if (JSON.stringify(a[k]) !== JSON.stringify(b[k])) {
      return `${k}: file has ${JSON.stringify(a[k])}, network has ${JSON.stringify(b[k])}`;
    }
  }
  if (a.params.length !== b.params.length) return `parameter count: file ${a.params.length} tensors, network ${b.params.length}`;
  for (let i = 0; i < a.params.length; i++) {
    const p = a.params[i];
    const q = b.params[i];
    if (p.name !== q.name || JSON.stringify(p.shape) !== JSON.stringify(q.shape)) {
      return `tensor ${i}: file ${p.name} [${p.shape}], network ${q.name} [${q.shape}]`;
    }
  }
  return null;
}

/** Build a network from a manifest and its tensors (the architecture is re-derived from its settings and checked). */
export function networkFromWeights(m: WeightsManifest, values: Map<string, Float32Array>, name: string): GenericUNet {
  const a = m.architecture;
  let rebuilt: NetworkArchitecture;
  try {
    rebuilt = buildArchitecture(
      {
        pool_op_kernel_sizes: a.poolOpKernelSizes,
        conv_kernel_sizes: a.convKernelSizes,
        UNet_base_num_features: a.baseNumFeatures,
        patch_size: new Array(a.dim).fill(1), // only its length (2D/3D) matters here
        batch_size: 1,
      },
      { numInputChannels: a.numInputChannels, numClasses: a.numClasses, maxNumFeatures: a.maxNumFeatures, convPerStage: a.convPerStage },
    );
  } catch (e) {
    throw new Error(`${name}: invalid architecture (${(e as Error).message})`);
  }
  const diff = architectureDifference(a, rebuilt);
  if (diff) throw new Error(`${name}: stored architecture is inconsistent with its own settings (${diff})`);
  return new GenericUNet(rebuilt, values);
}
