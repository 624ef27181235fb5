/**
 * Deterministic synthetic "lung tumour" CT dataset in MSD Task06 layout: the embedded default dataset of `npm start`.
 *
 * A TypeScript port of the official fixture generator
 * (/work/shared/fixtures/official/synthlung/inputs/make_synthetic.py). With the 'default' size and seed 1234 it
 * reproduces that script's voxels bit for bit (same numpy legacy MT19937 stream through RandomState, the same float32
 * arithmetic as numpy's value-based casting, scipy's gaussian_filter), so the TS-generated Task06_SynthLung has the
 * voxels of the published fixture inputs (input_hashes.json, sha256_voxels_zyx_C_order).
 *
 * Per case (axis order z, y, x):
 *  - spacing z ~ U(1.0, 2.5) mm, y = x ~ U(0.6, 0.9) mm, rounded to 1e-4 (anisotropic, different per case)
 *  - shape z, y, x drawn per profile ('default' 60-120 x 128-192 x 128-192, 'small' 40-64 x 96-128 x 96-128)
 *  - air -1024 HU; body = elliptic cylinder with a smooth 0..60 HU field; two lung ellipsoids around -850 HU;
 *    1-3 spherical tumours inside the lungs (30..60 HU, label 1); Gaussian noise (sd 12 HU); int16
 *  - cases 3 and 6 get slabs of exact 0 at some borders (zero-padded reconstructions), so crop-to-nonzero crops
 *  - NIfTI affine diag(sx, sy, sz) with a per-case origin (RAS); as SimpleITK reads it: direction diag(-1, -1, 1) and
 *    origin (-ox, -oy, oz) in LPS, all float32 values (pixdim / qoffset are float32 on disk)
 *
 * One RandomState(seed) drives all cases in order, as in the python script; `generateCase(i)` replays the draws of
 * cases 1..i-1 without building their images (cheap), so any single case can be generated on its own.
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { writeFileAtomic } from '../sdk/io/atomic';
import { encodeNifti } from '../sdk/io/nifti';
import { ItkDirection, ItkVec3, Shape3, Spacing3, Volume, makeVolume } from '../sdk/io/volume';
import { RandomState } from '../sdk/util/random';
import { progress } from '../sdk/util/progress';
import { roundHalfEven } from '../sdk/util/numeric';
import { gaussianFilterFloat32 } from '../sdk/training/gaussian_filter';

export type SynthLungSize = 'small' | 'default' | 'quickstart';

export interface SynthLungProfile {
  /** inclusive range of the number of slices (z) */
  z: [number, number];
  /** inclusive range of the in-plane size (y and x, drawn independently) */
  xy: [number, number];
  numTraining: number;
  numTest: number;
  /** tumour intensity range in HU, drawn uniformly per tumour (make_synthetic.py: 30..60, soft tissue's range) */
  tumourHU?: [number, number];
  /** tumour radius range in mm (make_synthetic.py: 3..9) */
  tumourRadiusMM?: [number, number];
}

/** 'default' = make_synthetic.py's PROFILES['default']; 'small' keeps `npm start` quick on a 2-core CPU. */
export const SYNTH_LUNG_PROFILES: Record<SynthLungSize, SynthLungProfile> = {
  default: { z: [60, 120], xy: [128, 192], numTraining: 8, numTest: 1 },
  small: { z: [40, 64], xy: [96, 128], numTraining: 8, numTest: 1 },
  // `npm start`: fewer slices, larger (6..12 mm) contrast-enhancing tumours (90..130 HU; the body's soft tissue is
  // 0..60 HU), so that nnU-Net's short CPU schedule learns it in minutes. The default profile's 30..60 HU tumours
  // need context (inside a lung or not) and several times more iterations.
  quickstart: { z: [28, 36], xy: [96, 112], numTraining: 12, numTest: 3, tumourHU: [90, 130], tumourRadiusMM: [6, 12] },
};

/** 1-based case numbers that get exact-zero border slabs (make_synthetic.py ZERO_MARGIN_CASES). */
export const ZERO_MARGIN_CASES: readonly number[] = [3, 6];
export const SYNTH_LUNG_DEFAULT_SEED = 1234;
export const SYNTH_LUNG_TASK_NAME = 'Task06_SynthLung';

const AIR_HU = -1024;
const LUNG_HU = -850;
const NOISE_SD_HU = 12;
const MAX_HU = 3071;
const TISSUE_SIGMA_VOXELS = 4;
/** NIfTI orientation as SimpleITK reports it for a RAS affine diag(+sx, +sy, +sz). */
const LPS_OF_RAS_DIAG: ItkDirection = [-1, 0, 0, 0, -1, 0, 0, 0, 1];

export interface GenerateCaseOptions {
  /** override the drawn (z, y, x) shape (the stream still draws one, so the spacing and earlier cases are unchanged) */
  shape?: [number, number, number];
  /** override the drawn (z, y, x) spacing in mm */
  spacing?: [number, number, number];
  /** stream seed (default 1234, the fixture's) */
  seed?: number;
  /** size profile (default 'default') */
  size?: SynthLungSize;
  /** exact-zero border slabs: default true for cases 3 and 6 */
  zeroMargin?: boolean;
}

export interface SynthLungCase {
  image: Volume<Int16Array>;
  label: Volume<Uint8Array>;
  /** the two lung ellipsoids (1 = lung; tumours lie inside), (z, y, x) C order: ground truth for tests and plots */
  lungMask: Uint8Array;
}

const f32 = Math.fround;


/** Python's round(x, 4) for the spacings (nearest decimal, then the double nearest to it). */
function round4(x: number): number {
  return Number(x.toFixed(4));
}

/** Centred physical coordinates of one axis in float32, as `(arange(n, float32) - (n-1)/2) * s` evaluates in numpy. */
function axisCoords(n: number, s: number): Float32Array {
  const c = new Float32Array(n);
  const mid = f32((n - 1) / 2);
  const sf = f32(s);
  for (let i = 0; i < n; i++) c[i] = f32(f32(i - mid) * sf);
  return c;
}

/** float32 ((c - centre) / radius)**2 per coordinate (python floats are cast to float32 against float32 arrays). */
function scaledSquares(c: Float32Array, centre: number, radius: number): Float32Array {
  const out = new Float32Array(c.length);
  const cf = f32(centre);
  const rf = f32(radius);
  for (let i = 0; i < c.length; i++) {
    const t = f32(f32(c[i] - cf) / rf);
    out[i] = f32(t * t);
  }
  return out;
}

function squaresFrom(c: Float32Array, centre: number): Float32Array {
  const out = new Float32Array(c.length);
  const cf = f32(centre);
  for (let i = 0; i < c.length; i++) {
    const t = f32(c[i] - cf);
    out[i] = f32(t * t);
  }
  return out;
}

function fillNormalFloat32(rs: RandomState, out: Float32Array, scale: number): void {
  for (let i = 0; i < out.length; i++) out[i] = scale * rs.standardNormal();
}

function skipNormals(rs: RandomState, n: number): void {
  for (let i = 0; i < n; i++) rs.standardNormal();
}

interface CaseDraws {
  sz: number;
  sxy: number;
  nz: number;
  ny: number;
  nx: number;
}

/**
 * The sequential generator: one RandomState, cases 1, 2, ... in order (make_synthetic.py's main loop).
 * `next()` builds the next case, `skip()` consumes exactly the draws of the next case without building it.
 */
export class SynthLungStream {
  private readonly rs: RandomState;
  private caseNumber = 0;
  readonly profile: SynthLungProfile;

  constructor(readonly seed = SYNTH_LUNG_DEFAULT_SEED, readonly size: SynthLungSize = 'default') {
    const p = SYNTH_LUNG_PROFILES[size];
    if (!p) throw new Error(`synthetic_lung: unknown size '${size}' (expected ${Object.keys(SYNTH_LUNG_PROFILES).join(', ')})`);
    this.profile = p;
    this.rs = new RandomState(seed);
  }

  /** 1-based number of the case that `next()` produces. */
  get nextCaseNumber(): number {
    return this.caseNumber + 1;
  }

  private drawGeometry(): CaseDraws {
    const rs = this.rs;
    const sz = round4(rs.uniform(1.0, 2.5));
    const sxy = round4(rs.uniform(0.6, 0.9));
    const nz = rs.randint(this.profile.z[0], this.profile.z[1] + 1);
    const ny = rs.randint(this.profile.xy[0], this.profile.xy[1] + 1);
    const nx = rs.randint(this.profile.xy[0], this.profile.xy[1] + 1);
    return { sz, sxy, nz, ny, nx };
  }

  /** Consume the random draws of the next case (for `generateCase(i)`: replaying cases before i). */
  skip(opts: Pick<GenerateCaseOptions, 'shape' | 'zeroMargin'> = {}): void {
    const rs = this.rs;
    const num = ++this.caseNumber;
    const g = this.drawGeometry();
    const [nz, ny, nx] = opts.shape ?? [g.nz, g.ny, g.nx];
    const n = nz * ny * nx;
    for (let i = 0; i < 4; i++) rs.random(); // body ay, ax, cy, cx
    skipNormals(rs, n); // tissue field
    for (let i = 0; i < 12; i++) rs.random(); // two lungs x 6
    const nTum = rs.randint(1, 4);
    for (let t = 0; t < nTum; t++) {
      rs.randint(0, 2);
      for (let i = 0; i < 5; i++) rs.random(); // r, tz, ty, tx, HU
    }
    skipNormals(rs, n); // noise
    if (opts.zeroMargin ?? ZERO_MARGIN_CASES.includes(num)) {
      rs.randint(0, 4);
      rs.randint(2, 6);
      rs.randint(3, 10);
      rs.randint(3, 10);
    }
    for (let i = 0; i < 3; i++) rs.random(); // origin
  }

  /** Build the next case (make_synthetic.py make_case). */
  next(opts: Pick<GenerateCaseOptions, 'shape' | 'spacing' | 'zeroMargin'> = {}): SynthLungCase {
    const rs = this.rs;
    const num = ++this.caseNumber;
    const g = this.drawGeometry();
    const [sz, sy, sx] = opts.spacing ?? [g.sz, g.sxy, g.sxy];
    const [nz, ny, nx] = opts.shape ?? [g.nz, g.ny, g.nx];
    for (const [name, v] of [['shape', [nz, ny, nx]], ['spacing', [sz, sy, sx]]] as const) {
      if (v.length !== 3 || v.some((x) => !(x > 0) || !Number.isFinite(x))) {
        throw new Error(`synthetic_lung case ${num}: ${name} must be 3 positive numbers (z, y, x), got ${JSON.stringify(v)}`);
      }
    }
    if ([nz, ny, nx].some((x) => !Number.isInteger(x) || x < 8)) {
      throw new Error(`synthetic_lung case ${num}: shape must be integers >= 8, got ${[nz, ny, nx].join('x')}`);
    }
    const nyx = ny * nx;
    const n = nz * nyx;
    const zc = axisCoords(nz, sz);
    const yc = axisCoords(ny, sy);
    const xc = axisCoords(nx, sx);

    const img = new Float32Array(n).fill(AIR_HU);
    const seg = new Uint8Array(n);

    // body: elliptic cylinder along z
    const fovY = ny * sy;
    const fovX = nx * sx;
    const ay = fovY * rs.uniform(0.36, 0.44);
    const ax = fovX * rs.uniform(0.4, 0.46);
    const cy = rs.uniform(-0.04, 0.04) * fovY;
    const cx = rs.uniform(-0.03, 0.03) * fovX;
    const by = scaledSquares(yc, cy, ay);
    const bx = scaledSquares(xc, cx, ax);
    const body = new Uint8Array(nyx);
    for (let y = 0; y < ny; y++) for (let x = 0; x < nx; x++) body[y * nx + x] = f32(by[y] + bx[x]) <= 1.0 ? 1 : 0;

    // smooth tissue field scaled to 0..60 HU
    const tissue = new Float32Array(n);
    fillNormalFloat32(rs, tissue, 1);
    gaussianFilterFloat32(tissue, [nz, ny, nx], TISSUE_SIGMA_VOXELS);
    let tmin = Infinity;
    let tmax = -Infinity;
    for (let i = 0; i < n; i++) {
      const v = tissue[i];
      if (v < tmin) tmin = v;
      if (v > tmax) tmax = v;
    }
    // (max - min) is a float32 scalar; + 1e-8 promotes it to float64; the array op casts it back to float32
    const denom = f32(f32(tmax - tmin) + 1e-8);
    const tminF = f32(tmin);
    for (let i = 0; i < n; i++) tissue[i] = f32(f32(f32(tissue[i] - tminF) / denom) * 60);
    for (let z = 0; z < nz; z++) {
      const off = z * nyx;
      for (let j = 0; j < nyx; j++) if (body[j]) img[off + j] = tissue[off + j];
    }

    // lungs: two ellipsoids left and right of the midline, clipped to the body
    const lungMask = new Uint8Array(n);
    const lungs: [number, number, number, number, number, number][] = [];
    const zext = nz * sz;
    for (const side of [-1, 1]) {
      const lcx = cx + side * ax * rs.uniform(0.42, 0.52);
      const lcy = cy + rs.uniform(-0.1, 0.05) * ay;
      const lcz = rs.uniform(-0.08, 0.08) * zext;
      const rx = ax * rs.uniform(0.28, 0.36);
      const ry = ay * rs.uniform(0.5, 0.62);
      const rz = zext * rs.uniform(0.3, 0.42);
      const qx = scaledSquares(xc, lcx, rx);
      const qy = scaledSquares(yc, lcy, ry);
      const qz = scaledSquares(zc, lcz, rz);
      for (let z = 0; z < nz; z++) {
        for (let y = 0; y < ny; y++) {
          const xy0 = f32(qy[y]);
          for (let x = 0; x < nx; x++) {
            const j = y * nx + x;
            if (body[j] && f32(f32(qx[x] + xy0) + qz[z]) <= 1.0) lungMask[z * nyx + j] = 1;
          }
        }
      }
      lungs.push([lcz, lcy, lcx, rz, ry, rx]);
    }
    for (let i = 0; i < n; i++) {
      if (lungMask[i]) img[i] = f32(LUNG_HU + f32(30 * f32(f32(tissue[i] / 60) - 0.5)));
    }

    // tumours: 1-3 spheres inside the lungs, label 1
    const nTum = rs.randint(1, 4);
    let fg = 0;
    for (let t = 0; t < nTum; t++) {
      const [lcz, lcy, lcx, rz, ry, rx] = lungs[rs.randint(0, 2)];
      const [rLo, rHi] = this.profile.tumourRadiusMM ?? [3.0, 9.0];
      const r = rs.uniform(rLo, rHi); // mm
      // centre within 50 % of the lung radii so the sphere stays (mostly) inside
      const tz = lcz + rs.uniform(-0.5, 0.5) * rz;
      const ty = lcy + rs.uniform(-0.5, 0.5) * ry;
      const tx = lcx + rs.uniform(-0.5, 0.5) * rx;
      const inside = sphereMask(zc, yc, xc, tz, ty, tx, r * r);
      const [huLo, huHi] = this.profile.tumourHU ?? [30.0, 60.0];
      const hu = f32(rs.uniform(huLo, huHi));
      for (const i of inside) {
        if (!lungMask[i]) continue;
        img[i] = f32(hu + f32(5 * f32(f32(tissue[i] / 60) - 0.5)));
        if (!seg[i]) fg++;
        seg[i] = 1;
      }
    }
    if (fg === 0) {
      // guarantee foreground (fingerprinting wants some): a 5 mm ball at the first lung's centre
      const [lcz, lcy, lcx] = lungs[0];
      for (const i of sphereMask(zc, yc, xc, lcz, lcy, lcx, 25.0)) {
        img[i] = 45;
        seg[i] = 1;
      }
    }

    // noise, round half to even, clip to the CT range
    for (let i = 0; i < n; i++) {
      const v = f32(img[i] + f32(NOISE_SD_HU * rs.standardNormal()));
      img[i] = Math.min(MAX_HU, Math.max(AIR_HU, roundHalfEven(v)));
    }

    if (opts.zeroMargin ?? ZERO_MARGIN_CASES.includes(num)) {
      // exact-0 slabs at some borders (zero-padded reconstructions); crop-to-nonzero must remove them
      const mz0 = rs.randint(0, 4);
      const mz1 = rs.randint(2, 6);
      const my0 = rs.randint(3, 10);
      const mx1 = rs.randint(3, 10);
      for (let z = 0; z < nz; z++) {
        for (let y = 0; y < ny; y++) {
          for (let x = 0; x < nx; x++) {
            if (z < mz0 || z >= nz - mz1 || y < my0 || x >= nx - mx1) {
              const i = (z * ny + y) * nx + x;
              img[i] = 0;
              seg[i] = 0;
              lungMask[i] = 0; // the mask follows the image
            }
          }
        }
      }
    }

    const ox = rs.uniform(-200, -150);
    const oy = rs.uniform(-200, -150);
    const oz = rs.uniform(-400, -100);
    const geometry = {
      // what a NIfTI reader reports: float32 pixdim widened to double, RAS affine seen in LPS
      spacing: [f32(sz), f32(sy), f32(sx)] as Spacing3,
      origin: [-f32(ox), -f32(oy), f32(oz)] as ItkVec3,
      direction: [...LPS_OF_RAS_DIAG] as ItkDirection,
    };
    const shape: Shape3 = [nz, ny, nx];
    return { image: makeVolume(Int16Array.from(img), shape, geometry), label: makeVolume(seg, shape, geometry), lungMask };
  }
}

/** Flat indices of voxels with float32 (z-tz)^2 + (y-ty)^2 + (x-tx)^2 <= r2 (numpy: sum left to right, <= f32(r2)). */
function sphereMask(zc: Float32Array, yc: Float32Array, xc: Float32Array, tz: number, ty: number, tx: number, r2: number): number[] {
  const qz = squaresFrom(zc, tz);
  const qy = squaresFrom(yc, ty);
  const qx = squaresFrom(xc, tx);
  const lim = f32(r2);
  const ny = yc.length;
  const nx = xc.length;
  const out: number[] = [];
  for (let z = 0; z < zc.length; z++) {
    if (qz[z] > lim) continue; // all terms are >= 0, so the float32 sum cannot get below qz[z]
    for (let y = 0; y < ny; y++) {
      const zy = f32(qz[z] + qy[y]);
      if (zy > lim) continue;
      for (let x = 0; x < nx; x++) if (f32(zy + qx[x]) <= lim) out.push((z * ny + y) * nx + x);
    }
  }
  return out;
}

/**
 * Case `index` (1-based, lung_XXX) of the synthetic stream with the given seed and size. Cases before it are replayed
 * (draws only), so the result equals the index-th case of `generateTask` with the same seed and size.
 */
export function generateCase(index: number, opts: GenerateCaseOptions = {}): SynthLungCase {
  if (!Number.isInteger(index) || index < 1) throw new Error(`generateCase: index must be an integer >= 1 (lung_001 is 1), got ${index}`);
  const stream = new SynthLungStream(opts.seed ?? SYNTH_LUNG_DEFAULT_SEED, opts.size ?? 'default');
  for (let i = 1; i < index; i++) stream.skip();
  return stream.next({ shape: opts.shape, spacing: opts.spacing, zeroMargin: opts.zeroMargin });
}

export interface GenerateTaskOptions {
  numTraining?: number;
  numTest?: number;
  seed?: number;
  size?: SynthLungSize;
  taskName?: string;
  /** also write the test cases' ground truth to labelsTs/ (not part of MSD; for scoring held-out predictions) */
  testLabels?: boolean;
}

interface SummaryCase {
  case: string;
  train: boolean;
  shape_zyx: number[];
  spacing_zyx: number[];
  fg_voxels: number;
  min: number;
  max: number;
  files: Record<string, string>; // relative path -> sha256 of the file
}

interface Summary {
  generator: string;
  seed: number;
  size: SynthLungSize;
  cases: SummaryCase[];
}

/** Bumped whenever the voxels or the file encoding of a given (seed, size, case) change. */
const GENERATOR_ID = 'nnunet-ts data-scripts/synthetic_lung.ts v1 (sdk/io/nifti.ts writer)';

function sha256(bytes: Uint8Array): string {
  return crypto.createHash('sha256').update(bytes).digest('hex');
}

function fileSha256(file: string): string | null {
  try {
    return sha256(fs.readFileSync(file));
  } catch {
    return null;
  }
}

/** Write unless an identical file is already there; returns true when it wrote. */
async function writeIfChanged(file: string, bytes: Uint8Array): Promise<boolean> {
  if (fs.existsSync(file)) {
    const old = fs.readFileSync(file);
    if (old.length === bytes.length && old.equals(bytes)) return false;
  }
  await writeFileAtomic(file, bytes);
  return true;
}

/**
 * Write `<outDir>/<taskName>/{imagesTr,labelsTr,imagesTs}/lung_XXX.nii.gz` and an MSD dataset.json; returns the task
 * folder. Idempotent: a case whose files already match the recorded sha256 (synthetic_summary.json) for the same
 * generator, seed and size is not regenerated, and identical files are never rewritten. Writes are atomic.
 */
export async function generateTask(outDir: string, opts: GenerateTaskOptions = {}): Promise<string> {
  const size = opts.size ?? 'default';
  const profile = SYNTH_LUNG_PROFILES[size];
  if (!profile) throw new Error(`generateTask: unknown size '${size}' (expected ${Object.keys(SYNTH_LUNG_PROFILES).join(', ')})`);
  const seed = opts.seed ?? SYNTH_LUNG_DEFAULT_SEED;
  const numTraining = opts.numTraining ?? profile.numTraining;
  const numTest = opts.numTest ?? profile.numTest;
  for (const [k, v] of [['numTraining', numTraining], ['numTest', numTest]] as const) {
    if (!Number.isInteger(v) || v < 0) throw new Error(`generateTask: ${k} must be an integer >= 0, got ${v}`);
  }
  if (numTraining + numTest === 0) throw new Error('generateTask: nothing to generate (numTraining + numTest is 0)');
  const taskName = opts.taskName ?? SYNTH_LUNG_TASK_NAME;
  if (!/^Task\d{2,3}_[A-Za-z0-9_-]+$/.test(taskName)) {
    throw new Error(`generateTask: taskName must look like 'Task06_SynthLung' (MSD layout), got '${taskName}'`);
  }
  const root = path.join(outDir, taskName);
  for (const sub of ['imagesTr', 'labelsTr', 'imagesTs', ...(opts.testLabels ? ['labelsTs'] : [])]) fs.mkdirSync(path.join(root, sub), { recursive: true });
  const summaryFile = path.join(root, 'synthetic_summary.json');
  let previous: Summary | null = null;
  try {
    const s = JSON.parse(fs.readFileSync(summaryFile, 'utf8')) as Summary;
    if (s.generator === GENERATOR_ID && s.seed === seed && s.size === size) previous = s;
  } catch {
    previous = null;
  }

  const stream = new SynthLungStream(seed, size);
  const training: { image: string; label: string }[] = [];
  const test: string[] = [];
  const cases: SummaryCase[] = [];
  const bar = progress(`synthetic ${taskName}`, numTraining + numTest);
  for (let i = 1; i <= numTraining + numTest; i++) {
    const isTrain = i <= numTraining;
    const cid = `lung_${String(i).padStart(3, '0')}`;
    const rels = isTrain
      ? [`imagesTr/${cid}.nii.gz`, `labelsTr/${cid}.nii.gz`]
      : [`imagesTs/${cid}.nii.gz`, ...(opts.testLabels ? [`labelsTs/${cid}.nii.gz`] : [])];
    if (isTrain) training.push({ image: `./${rels[0]}`, label: `./${rels[1]}` });
    else test.push(`./${rels[0]}`);
    const prev = previous?.cases.find((c) => c.case === cid && c.train === isTrain);
    if (prev && rels.every((r) => prev.files[r] !== undefined && fileSha256(path.join(root, r)) === prev.files[r])) {
      stream.skip();
      cases.push(prev);
      bar.tick(1, `${cid} up to date`);
      continue;
    }
    const { image, label } = stream.next();
    const files: Record<string, string> = {};
    const imgBytes = await encodeNifti(image, { gzip: true });
    await writeIfChanged(path.join(root, rels[0]), imgBytes);
    files[rels[0]] = sha256(imgBytes);
    if (rels.length > 1) {
      const segBytes = await encodeNifti(label, { gzip: true });
      await writeIfChanged(path.join(root, rels[1]), segBytes);
      files[rels[1]] = sha256(segBytes);
    }
    let mn = Infinity;
    let mx = -Infinity;
    for (const v of image.data) {
      if (v < mn) mn = v;
      if (v > mx) mx = v;
    }
    let fg = 0;
    for (const v of label.data) fg += v;
    cases.push({ case: cid, train: isTrain, shape_zyx: [...image.shape], spacing_zyx: [...image.spacing], fg_voxels: fg, min: mn, max: mx, files });
    bar.tick(1, cid);
  }
  bar.done();

  const dataset = {
    name: taskName.split('_').slice(1).join('_'),
    description: `Synthetic Task06-like lung CT (deterministic, seed ${seed}, size ${size}; nnunet-ts data-scripts/synthetic_lung.ts)`,
    reference: 'synthetic',
    licence: 'CC0',
    release: '1.0',
    tensorImageSize: '3D',
    modality: { '0': 'CT' },
    labels: { '0': 'background', '1': 'cancer' },
    numTraining: training.length,
    numTest: test.length,
    training,
    test,
  };
  await writeIfChanged(path.join(root, 'dataset.json'), Buffer.from(JSON.stringify(dataset, null, 4) + '\n', 'utf8'));
  const summary: Summary = { generator: GENERATOR_ID, seed, size, cases };
  await writeIfChanged(summaryFile, Buffer.from(JSON.stringify(summary, null, 1) + '\n', 'utf8'));
  return root;
}
