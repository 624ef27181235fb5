/** Small shared builders for the training tests. */
import { PreprocessedCase } from '../../sdk/training/data_loader';
import { AugBatch } from '../../sdk/training/transforms/base';
import { RandomState } from '../../sdk/util/random';

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

/** Seeded augmentation batch: normal data (B, C, ...) and S seg channels of random labels. */
export function goldenBatch(shape: number[], S: number, seed: number, labels = [-1, 0, 1, 2]): AugBatch {
  const r = new RandomState(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  const data = Float32Array.from({ length: n }, () => r.normal(0, 1));
  const segShape = [shape[0], S, ...shape.slice(2)];
  const m = segShape.reduce((a, b) => a * b, 1);
  const seg = S ? Float32Array.from({ length: m }, () => labels[r.randint(0, labels.length)]) : null;
  return { data, dataShape: shape.slice(), seg, segShape: S ? segShape : null };
}

/** Blobby one-hot cascade batch: 1 image channel + 2 one-hot channels with several components each. */
export function cascadeBatch(seed: number): AugBatch {
  const Z = 10;
  const n = Z * Z * Z;
  const r = new RandomState(seed);
  const B = 2;
  const data = new Float32Array(B * 3 * n);
  for (let b = 0; b < B; b++) {
    for (let i = 0; i < n; i++) data[b * 3 * n + i] = r.normal();
    for (let k = 0; k < 6; k++) {
      const ch = 1 + (k % 2);
      const z0 = r.randint(0, 8), y0 = r.randint(0, 8), x0 = r.randint(0, 8);
      for (let z = z0; z < z0 + 2; z++) for (let y = y0; y < y0 + 2; y++) for (let x = x0; x < x0 + 2; x++) {
        const v = (z * Z + y) * Z + x;
        data[(b * 3 + 1) * n + v] = 0;
        data[(b * 3 + 2) * n + v] = 0;
        data[(b * 3 + ch) * n + v] = 1;
      }
    }
  }
  return { data, dataShape: [B, 3, Z, Z, Z], seg: new Float32Array(B * n), segShape: [B, 1, Z, Z, Z] };
}
