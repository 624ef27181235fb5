/**
 * Weights files `<prefix>.json` + `<prefix>.bin` (the format is weights_codec.ts): atomic save, validated load.
 */
import * as fs from 'fs';
import * as path from 'path';
import { readJsonSync, writeFileAtomic, writeJsonAtomic } from '../io/atomic';
import type { GenericUNet } from './generic_unet';
import { architectureDifference, checkWeightsManifest, decodeWeights, encodeWeights, networkFromWeights, type WeightsManifest } from './weights_codec';

function paths(prefix: string): { json: string; bin: string } {
  const p = prefix.replace(/\.(json|bin)$/, '');
  return { json: `${p}.json`, bin: `${p}.bin` };
}

/** Save the network's weights to `<prefix>.json` + `<prefix>.bin` (atomic writes). */
export async function saveWeights(net: GenericUNet, prefix: string): Promise<WeightsManifest> {
  const { json, bin } = paths(prefix);
  const { manifest, blob } = await encodeWeights(net, path.basename(bin));
  await writeFileAtomic(bin, blob);
  await writeJsonAtomic(json, manifest);
  return manifest;
}

/** Read and validate a manifest and its blob. */
export function readWeights(prefix: string): { manifest: WeightsManifest; values: Map<string, Float32Array>; blobFile: string } {
  const { json } = paths(prefix);
  const m = readJsonSync<WeightsManifest>(json);
  checkWeightsManifest(m, json);
  const bin = path.join(path.dirname(json), m.blob);
  if (!fs.existsSync(bin)) throw new Error(`${json}: weights blob ${bin} is missing`);
  return { manifest: m, values: decodeWeights(m, fs.readFileSync(bin), json, bin), blobFile: bin };
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
  return networkFromWeights(manifest, values, paths(prefix).json);
}
