/**
 * NIfTI-1 files (.nii and .nii.gz): reading and atomic writing. The format itself (header, geometry, voxels) is
 * nifti_codec.ts, re-exported here; this module adds the file system and Node's zlib (faster than the pure-JS inflate).
 */
import * as fs from 'fs';
import * as zlib from 'zlib';
import { promisify } from 'util';
import { writeFileAtomic } from './atomic';
import type { Volume } from './volume';
import { setGzipCodec, type GzipCodec } from './gzip';
import { decodeNifti, encodeNifti, type NiftiFile, type WriteNiftiOptions } from './nifti_codec';

export * from './nifti_codec';

const gunzipAsync = promisify(zlib.gunzip);
const gzipAsync = promisify(zlib.gzip);
/** Node's native gzip, installed for every NIfTI read and write once this module loads. */
export const ZLIB_CODEC: GzipCodec = { name: 'zlib', gunzip: (b) => gunzipAsync(b), gzip: (b, level) => gzipAsync(b, { level }) };
setGzipCodec(ZLIB_CODEC);

/** Read a NIfTI-1 file with full header information; one Volume per channel. */
export async function readNiftiFile(file: string): Promise<NiftiFile> {
  let bytes: Buffer;
  try {
    bytes = await fs.promises.readFile(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new Error(`${file}: cannot read${code === 'ENOENT' ? ' (file does not exist)' : ''}: ${(e as Error).message}`);
  }
  return decodeNifti(bytes, file);
}

/** Read a 3D NIfTI image as a Volume in (z, y, x) order. A 4D file with more than one channel is an error. */
export async function readNifti(file: string): Promise<Volume> {
  const f = await readNiftiFile(file);
  if (f.volumes.length !== 1) {
    throw new Error(`${file}: expected a 3D image but it has ${f.volumes.length} channels (4D); use readNiftiChannels`);
  }
  return f.volumes[0];
}

/** Read a 3D (one Volume) or 4D (one Volume per channel) NIfTI image. */
export async function readNiftiChannels(file: string): Promise<Volume[]> {
  return (await readNiftiFile(file)).volumes;
}

/** Write a Volume (or a list of channels as one 4D file) to .nii or .nii.gz, atomically. */
export async function writeNifti(file: string, vols: Volume | Volume[], opts: WriteNiftiOptions = {}): Promise<void> {
  const lower = file.toLowerCase();
  if (!lower.endsWith('.nii') && !lower.endsWith('.nii.gz')) throw new Error(`${file}: NIfTI file names end with .nii or .nii.gz`);
  let bytes: Uint8Array;
  try {
    bytes = await encodeNifti(vols, { ...opts, gzip: opts.gzip ?? lower.endsWith('.gz') });
  } catch (e) {
    throw new Error(`${file}: cannot write NIfTI: ${(e as Error).message}`);
  }
  await writeFileAtomic(file, bytes);
}
