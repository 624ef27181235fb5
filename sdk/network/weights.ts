/**
 * Network weights on disk, format `nnunet-ts-weights` version 1:
 *
 *   <prefix>.json  manifest: { format, version, architecture (NetworkArchitecture), parameterCount,
 *                   tensors: [{ name, shape, dtype: 'float32', offset (bytes), length (elements) }], blob }
 *   <prefix>.bin   all tensors as little-endian float32, concatenated in manifest order (state_dict order)
 *
 * Layouts are tfjs channels-last (see architecture.ts). The blob is written before the manifest, both atomically, so
 * a manifest on disk always describes a complete blob. Loading refuses a manifest whose architecture differs from the
 * network's, naming the first difference.
 */
import * as fs from 'fs';
import * as path from 'path';
import { readJsonSync, writeFileAtomic, writeJsonAtomic } from '../io/atomic';
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

function paths(prefix: string): { json: string; bin: string } {
  const p = prefix.replace(/\.(json|bin)$/, '');
  return { json: `${p}.json`, bin: `${p}.bin` };
}

/** Save the network's weights to `<prefix>.json` + `<prefix>.bin` (atomic writes). */
export async function saveWeights(net: GenericUNet, prefix: string): Promise<WeightsManifest> {
  const { json, bin } = paths(prefix);
  const values = await net.getValues();
  const arch = net.architecture;
  const tensors: WeightsManifest['tensors'] = [];
  let offset = 0;
  for (const p of arch.params) {
    const length = values.get(p.name)!.length;
    tensors.push({ name: p.name, shape: p.shape, dtype: 'float32', offset, length });
    offset += length * 4;
  }
  const blob = new Uint8Array(offset);
  const dv = new DataView(blob.buffer);
  for (const t of tensors) {
    const v = values.get(t.name)!;
    for (let i = 0; i < v.length; i++) dv.setFloat32(t.offset + 4 * i, v[i], true);
  }
  const manifest: WeightsManifest = {
    format: WEIGHTS_FORMAT,
    version: WEIGHTS_VERSION,
    architecture: arch,
    parameterCount: parameterCount(arch),
    blob: path.basename(bin),
    tensors,
  };
  await writeFileAtomic(bin, blob);
  await writeJsonAtomic(json, manifest);
  return manifest;
}

/** Read and validate a manifest and its blob. */
export function readWeights(prefix: string): { manifest: WeightsManifest; values: Map<string, Float32Array> } {
  const { json } = paths(prefix);
  const m = readJsonSync<WeightsManifest>(json);
  if (m.format !== WEIGHTS_FORMAT) throw new Error(`${json}: not an nnunet-ts weights manifest (format '${m.format}')`);
  if (m.version !== WEIGHTS_VERSION) throw new Error(`${json}: unsupported weights version ${m.version} (this build reads ${WEIGHTS_VERSION})`);
  const bin = path.join(path.dirname(json), m.blob);
  if (!fs.existsSync(bin)) throw new Error(`${json}: weights blob ${bin} is missing`);
  const buf = fs.readFileSync(bin);
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const values = new Map<string, Float32Array>();
  const params = m.architecture?.params ?? [];
  if (params.length !== m.tensors.length || params.some((p, i) => p.name !== m.tensors[i].name || p.shape.join() !== m.tensors[i].shape.join())) {
    throw new Error(`${json}: tensor list does not match the architecture's parameters`);
  }
  for (const t of m.tensors) {
    if (t.dtype !== 'float32') throw new Error(`${json}: tensor ${t.name} has unsupported dtype ${t.dtype}`);
    if (t.offset + 4 * t.length > buf.byteLength) {
      throw new Error(`${bin}: truncated (tensor ${t.name} needs bytes up to ${t.offset + 4 * t.length}, file has ${buf.byteLength})`);
    }
    const v = new Float32Array(t.length);
    for (let i = 0; i < t.length; i++) v[i] = dv.getFloat32(t.offset + 4 * i, true);
    values.set(t.name, v);
  }
  return { manifest: m, values };
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

/** Load weights into an existing network; refuses a file whose architecture differs. */
export function loadWeightsInto(net: GenericUNet, prefix: string): void {
  const { manifest, values } = readWeights(prefix);
  const diff = architectureDifference(manifest.architecture, net.architecture);
  if (diff) throw new Error(`${paths(prefix).json}: architecture mismatch, refusing to load (${diff})`);
  net.setValues(values);
}

/** Build a network from a weights file (architecture from the manifest, re-derived and checked). */
export function loadNetwork(prefix: string): GenericUNet {
  const { manifest, values } = readWeights(prefix);
  const a = manifest.architecture;
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
    throw new Error(`${paths(prefix).json}: invalid architecture (${(e as Error).message})`);
  }
  const diff = architectureDifference(a, rebuilt);
  if (diff) throw new Error(`${paths(prefix).json}: stored architecture is inconsistent with its own settings (${diff})`);
  return new GenericUNet(rebuilt, values);
}
