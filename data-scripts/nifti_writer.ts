/**
 * TEMPORARY minimal NIfTI-1 writer for the data scripts, until sdk/io/nifti.ts (another engineer's `writeNifti`)
 * lands; then the data scripts switch to it and this file goes away.
 *
 * Writes a single-file NIfTI-1 (.nii, optionally gzipped) the way nibabel does for the synthetic generator:
 * voxels x-fastest (the Volume's C order over (z, y, x) maps 1:1), pixdim = spacing reversed, the RAS affine of the
 * Volume's LPS geometry in both qform and sform (code 1, scanner), xyzt_units mm + sec, magic "n+1".
 */
import * as zlib from 'zlib';
import { Volume, VoxelArray } from '../sdk/io/volume';

const NIFTI_DTYPE: { [K: string]: [code: number, bitpix: number] } = {
  Uint8Array: [2, 8],
  Int16Array: [4, 16],
  Int32Array: [8, 32],
  Float32Array: [16, 32],
  Float64Array: [64, 64],
  Int8Array: [256, 8],
  Uint16Array: [512, 16],
  Uint32Array: [768, 32],
};

/** nifti1_io.c nifti_mat44_to_quatern for a proper rotation matrix (rows r[i][j]); returns quatern b, c, d. */
function rotationToQuatern(r: number[][]): [number, number, number] {
  const [[r11, r12, r13], [r21, r22, r23], [r31, r32, r33]] = r;
  let a = r11 + r22 + r33 + 1;
  let b: number, c: number, d: number;
  if (a > 0.5) {
    a = 0.5 * Math.sqrt(a);
    b = (0.25 * (r32 - r23)) / a;
    c = (0.25 * (r13 - r31)) / a;
    d = (0.25 * (r21 - r12)) / a;
  } else {
    const xd = 1 + r11 - (r22 + r33);
    const yd = 1 + r22 - (r11 + r33);
    const zd = 1 + r33 - (r11 + r22);
    if (xd > 1) {
      b = 0.5 * Math.sqrt(xd);
      c = (0.25 * (r12 + r21)) / b;
      d = (0.25 * (r13 + r31)) / b;
      a = (0.25 * (r32 - r23)) / b;
    } else if (yd > 1) {
      c = 0.5 * Math.sqrt(yd);
      b = (0.25 * (r12 + r21)) / c;
      d = (0.25 * (r23 + r32)) / c;
      a = (0.25 * (r13 - r31)) / c;
    } else {
      d = 0.5 * Math.sqrt(zd);
      b = (0.25 * (r13 + r31)) / d;
      c = (0.25 * (r23 + r32)) / d;
      a = (0.25 * (r21 - r12)) / d;
    }
    if (a < 0) {
      b = -b;
      c = -c;
      d = -d;
    }
  }
  return [b, c, d];
}

/** Encode a Volume as NIfTI-1 bytes (gzip for .nii.gz). */
export function encodeNifti(volume: Volume<VoxelArray>, opts: { gzip?: boolean } = {}): Uint8Array {
  const kind = volume.data.constructor.name;
  const dt = NIFTI_DTYPE[kind];
  if (!dt) throw new Error(`encodeNifti: unsupported voxel type ${kind}`);
  const [nz, ny, nx] = volume.shape;
  const [sz, sy, sx] = volume.spacing;
  const spacingXyz = [sx, sy, sz];
  const D = volume.direction; // ITK row-major, LPS
  const o = volume.origin;
  // RAS = diag(-1, -1, 1) * LPS
  const flip = [-1, -1, 1];
  const rot = [0, 1, 2].map((i) => [0, 1, 2].map((j) => flip[i] * D[i * 3 + j] + 0)); // + 0: no -0 in the header
  const originRas = [0, 1, 2].map((i) => flip[i] * o[i] + 0);
  const det =
    rot[0][0] * (rot[1][1] * rot[2][2] - rot[1][2] * rot[2][1]) -
    rot[0][1] * (rot[1][0] * rot[2][2] - rot[1][2] * rot[2][0]) +
    rot[0][2] * (rot[1][0] * rot[2][1] - rot[1][1] * rot[2][0]);
  const qfac = det < 0 ? -1 : 1;
  const proper = rot.map((row) => [row[0], row[1], row[2] * qfac]);
  const [qb, qc, qd] = rotationToQuatern(proper);

  const hdr = Buffer.alloc(352);
  hdr.writeInt32LE(348, 0);
  hdr.write('r', 38, 'latin1');
  const dim = [3, nx, ny, nz, 1, 1, 1, 1];
  dim.forEach((v, i) => hdr.writeInt16LE(v, 40 + 2 * i));
  hdr.writeInt16LE(dt[0], 70);
  hdr.writeInt16LE(dt[1], 72);
  const pixdim = [qfac, ...spacingXyz, 1, 1, 1, 1];
  pixdim.forEach((v, i) => hdr.writeFloatLE(v, 76 + 4 * i));
  hdr.writeFloatLE(352, 108);
  hdr.writeFloatLE(NaN, 112); // scl_slope: unscaled (nibabel writes NaN)
  hdr.writeFloatLE(NaN, 116);
  hdr.writeUInt8(10, 123); // xyzt_units: mm (2) + sec (8)
  hdr.writeInt16LE(1, 252); // qform_code scanner
  hdr.writeInt16LE(1, 254); // sform_code scanner
  hdr.writeFloatLE(qb, 256);
  hdr.writeFloatLE(qc, 260);
  hdr.writeFloatLE(qd, 264);
  originRas.forEach((v, i) => hdr.writeFloatLE(v, 268 + 4 * i));
  for (let i = 0; i < 3; i++) {
    for (let j = 0; j < 3; j++) hdr.writeFloatLE(rot[i][j] * spacingXyz[j], 280 + 16 * i + 4 * j);
    hdr.writeFloatLE(originRas[i], 280 + 16 * i + 12);
  }
  hdr.write('n+1\0', 344, 'latin1');
  const d = volume.data;
  const body = Buffer.from(d.buffer, d.byteOffset, d.byteLength); // little-endian hosts only (x86, arm)
  const raw = Buffer.concat([hdr, body]);
  return opts.gzip ? zlib.gzipSync(raw) : raw;
}
