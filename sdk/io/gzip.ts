/**
 * gzip for NIfTI (.nii.gz) and model archives, Node-free: the default codec is fflate (pure JS, what the browser
 * build uses); sdk/io/nifti.ts installs Node's zlib when it loads (native, faster on CT-sized files).
 */
import { gunzipSync, gzipSync } from 'fflate';

export interface GzipCodec {
  name: string;
  gunzip(bytes: Uint8Array): Promise<Uint8Array>;
  /** level 0-9 */
  gzip(bytes: Uint8Array, level: number): Promise<Uint8Array>;
}

const fflateCodec: GzipCodec = {
  name: 'fflate',
  // the synchronous forms: fflate's async ones start workers, which a page or a bundle need not provide
  gunzip: async (bytes) => gunzipSync(bytes),
  gzip: async (bytes, level) => gzipSync(bytes, { level: Math.max(0, Math.min(9, level)) as 0 }),
};

let codec: GzipCodec = fflateCodec;

export function setGzipCodec(c: GzipCodec): void {
  codec = c;
}

export function gzipCodecName(): string {
  return codec.name;
}

export function gunzip(bytes: Uint8Array): Promise<Uint8Array> {
  return codec.gunzip(bytes);
}

export function gzip(bytes: Uint8Array, level: number): Promise<Uint8Array> {
  return codec.gzip(bytes, level);
}
