/** Small shared builders for the training tests. */
import { PreprocessedCase } from '../../sdk/training/data_loader';

/** A case whose data value encodes the voxel position: v = 1 + z·10000 + y·100 + x (so crops can be located). */
export function codedCase(Z: number, Y: number, X: number, fg: [number, number, number][] = [], C = 1): PreprocessedCase {
  const n = Z * Y * X;
  const data = new Float32Array(C * n);
  for (let c = 0; c < C; c++)
    for (let z = 0; z < Z; z++) for (let y = 0; y < Y; y++) for (let x = 0; x < X; x++) data[c * n + (z * Y + y) * X + x] = 1 + z * 10000 + y * 100 + x;
  const seg = new Float32Array(n);
  for (const [z, y, x] of fg) seg[(z * Y + y) * X + x] = 1;
  return { data, seg, shape: [C, Z, Y, X], classLocations: { '1': fg.map((v) => v.slice()) } };
}

/** Decode the value written by codedCase (0 = padding). */
export function decode(v: number): [number, number, number] | null {
  if (v === 0) return null;
  const r = Math.round(v - 1);
  return [Math.floor(r / 10000), Math.floor(r / 100) % 100, r % 100];
}

/** Binomial check: |k/n − p| within z standard errors. */
export function withinBinomial(k: number, n: number, p: number, z = 4.5): boolean {
  const se = Math.sqrt((p * (1 - p)) / n);
  return Math.abs(k / n - p) <= z * se + 1e-12;
}
