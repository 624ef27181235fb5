import assert from 'node:assert/strict';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { test } from 'node:test';
import * as zlib from 'zlib';
import { readNifti } from '../../sdk/io/nifti';
import { expCorrectlyRounded, gaussianKernel1dExact, numpyPairwiseSum } from '../../sdk/training/gaussian_filter';
import { ZERO_MARGIN_CASES, SynthLungStream, generateCase, generateTask } from '../../data-scripts/synthetic_lung';
import { parseArgs } from '../../data-scripts/generate_synthetic_lung';

process.env.NNUNET_PROGRESS = '0';
const FIXTURES = path.resolve(__dirname, '../../../shared/fixtures/official');

interface InputHash {
  shape_zyx: number[];
  pixdim_xyz: number[];
  sha256_voxels_zyx_C_order: string;
}
const HASHES = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'synthlung/inputs/input_hashes.json'), 'utf8')).files as Record<string, InputHash>;

const CROPPED = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'synthlung/v1/cropped_case_properties.json'), 'utf8')) as Record<
  string,
  { itk_origin: number[]; itk_direction: number[]; itk_spacing: number[] }
>;

function sha256(a: ArrayBufferView): string {
  return crypto.createHash('sha256').update(Buffer.from(a.buffer, a.byteOffset, a.byteLength)).digest('hex');
}

test('gaussian kernel: exact exp and numpy pairwise sum', () => {
  // glibc's correctly rounded exp(-0.5/16 * 16^2) = exp(-8); V8's Math.exp gives 0.00033546262790251185 too, but
  // exp(-0.5/16 * 12^2) = exp(-4.5) is where libm implementations differ: the correctly rounded value is ...306
  assert.equal(expCorrectlyRounded(-8), 0.00033546262790251185);
  assert.equal(expCorrectlyRounded(-4.5), 0.011108996538242306);
  assert.equal(expCorrectlyRounded(1), Math.E);
  const w = gaussianKernel1dExact(4, 16);
  assert.equal(w.length, 33);
  for (let k = 0; k <= 16; k++) assert.equal(w[16 + k], w[16 - k]);
  // numpy 1.24: np.add.reduce(1.0 / np.arange(1, 301)) = 6.282663880299504 (a left-to-right sum gives ...502):
  // 300 > 128 exercises the recursive split, the 8 accumulators and the remainder loop
  const a = Float64Array.from({ length: 300 }, (_, i) => 1 / (i + 1));
  assert.equal(numpyPairwiseSum(a), 6.282663880299504);
});

test('default profile, seed 1234 reproduces the official fixture voxels and geometry (all 9 cases, images and labels)', () => {
  const stream = new SynthLungStream(1234, 'default');
  for (let i = 1; i <= 9; i++) {
    const cid = `lung_${String(i).padStart(3, '0')}`;
    const c = stream.next();
    const img = HASHES[`imagesTr/${cid}.nii.gz`] ?? HASHES[`imagesTs/${cid}.nii.gz`];
    assert.deepEqual(c.image.shape, img.shape_zyx, cid);
    assert.deepEqual([...c.image.spacing].reverse(), img.pixdim_xyz, cid);
    assert.equal(sha256(c.image.data), img.sha256_voxels_zyx_C_order, `${cid} image voxels`);
    const lab = HASHES[`labelsTr/${cid}.nii.gz`];
    if (lab) assert.equal(sha256(c.label.data), lab.sha256_voxels_zyx_C_order, `${cid} label voxels`);
    // geometry as the official v1 cropping read it with SimpleITK semantics (training cases only)
    const p = CROPPED[cid];
    assert.equal(Boolean(p), i <= 8, cid);
    if (p) {
      assert.deepEqual(c.image.origin, p.itk_origin, `${cid} origin`);
      assert.deepEqual(c.image.direction, p.itk_direction, `${cid} direction`);
      assert.deepEqual([...c.image.spacing].reverse(), p.itk_spacing, `${cid} spacing`);
    }
  }
});

test('deterministic: same seed -> identical voxels, replayed single cases equal the stream, other seed differs', () => {
  const stream = new SynthLungStream(77, 'small');
  const seq = [stream.next(), stream.next(), stream.next()];
  const again = generateCase(3, { seed: 77, size: 'small' });
  assert.equal(sha256(again.image.data), sha256(seq[2].image.data));
  assert.equal(sha256(again.label.data), sha256(seq[2].label.data));
  assert.deepEqual(again.image.spacing, seq[2].image.spacing);
  assert.deepEqual(again.image.origin, seq[2].image.origin);
  const other = generateCase(3, { seed: 78, size: 'small' });
  assert.notEqual(sha256(other.image.data), sha256(seq[2].image.data));
  // a shape override replaces the drawn shape of that case only; the spacing drawn before it is unchanged
  const small = generateCase(2, { seed: 77, size: 'small', shape: [20, 40, 44] });
  assert.deepEqual(small.image.shape, [20, 40, 44]);
  assert.equal(small.image.data.length, 20 * 40 * 44);
  assert.deepEqual(small.image.spacing, seq[1].image.spacing);
  assert.deepEqual(generateCase(2, { seed: 77, size: 'small', spacing: [3, 1, 1] }).image.spacing, [3, 1, 1]);
});

test('HU values, tumours inside the lungs, anisotropic varying spacings, zero margins in cases 3 and 6', () => {
  const stream = new SynthLungStream(1234, 'small');
  const spacings: string[] = [];
  for (let i = 1; i <= 6; i++) {
    const { image, label, lungMask } = stream.next();
    const [nz, ny, nx] = image.shape;
    assert.ok(nz >= 40 && nz <= 64 && ny >= 96 && ny <= 128 && nx >= 96 && nx <= 128, `case ${i} shape ${image.shape}`);
    const [sz, sy, sx] = image.spacing;
    assert.equal(sy, sx);
    assert.ok(sz >= 1.0 && sz <= 2.5 && sy >= 0.6 && sy <= 0.9 && sz > sy, `case ${i} spacing ${image.spacing}`);
    spacings.push(image.spacing.join());
    assert.deepEqual(image.direction, [-1, 0, 0, 0, -1, 0, 0, 0, 1]);

    const d = image.data;
    let air = 0;
    let lungSum = 0;
    let lungN = 0;
    let fg = 0;
    let min = Infinity;
    for (let v = 0; v < d.length; v++) {
      min = Math.min(min, d[v]);
      if (d[v] === -1024) air++;
      if (label.data[v]) {
        fg++;
        assert.ok(lungMask[v] === 1, `case ${i}: tumour voxel ${v} outside the lungs`);
        // tumour HU 30..60 (+-2.5 texture) + noise sd 12: 6 sd margin
        assert.ok(d[v] >= 27.5 - 72 && d[v] <= 62.5 + 72, `case ${i}: tumour HU ${d[v]}`);
      } else if (lungMask[v]) {
        lungSum += d[v];
        lungN++;
      }
    }
    assert.equal(min, -1024);
    assert.ok(air > 0.1 * d.length, `case ${i}: too little air (${air})`);
    assert.ok(fg > 0, `case ${i}: no foreground`);
    assert.ok(lungN > 0.02 * d.length, `case ${i}: lungs too small`);
    assert.ok(Math.abs(lungSum / lungN + 850) < 5, `case ${i}: lung mean ${lungSum / lungN}`);

    // zero margins: the last z slice, the first y row and the last x column are exactly 0 in cases 3 and 6 only
    const allZero = (sel: (z: number, y: number, x: number) => boolean) => {
      for (let z = 0; z < nz; z++) for (let y = 0; y < ny; y++) for (let x = 0; x < nx; x++) if (sel(z, y, x) && d[(z * ny + y) * nx + x] !== 0) return false;
      return true;
    };
    const zeroed = allZero((z) => z === nz - 1) && allZero((_, y) => y === 0) && allZero((_, __, x) => x === nx - 1);
    assert.equal(zeroed, ZERO_MARGIN_CASES.includes(i), `case ${i}: zero margins`);
  }
  assert.equal(new Set(spacings).size, spacings.length, 'spacings vary per case');
});

test('generateTask: MSD layout, dataset.json, NIfTI bytes, idempotent rerun', async () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'synthlung-'));
  try {
    const dir = await generateTask(tmp, { numTraining: 2, numTest: 1, size: 'small', seed: 5 });
    assert.equal(dir, path.join(tmp, 'Task06_SynthLung'));
    const ds = JSON.parse(fs.readFileSync(path.join(dir, 'dataset.json'), 'utf8'));
    assert.deepEqual(ds.modality, { '0': 'CT' });
    assert.deepEqual(ds.labels, { '0': 'background', '1': 'cancer' });
    assert.equal(ds.numTraining, 2);
    assert.equal(ds.numTest, 1);
    assert.deepEqual(ds.training[1], { image: './imagesTr/lung_002.nii.gz', label: './labelsTr/lung_002.nii.gz' });
    assert.deepEqual(ds.test, ['./imagesTs/lung_003.nii.gz']);
    for (const f of ['imagesTr/lung_001.nii.gz', 'labelsTr/lung_001.nii.gz', 'imagesTr/lung_002.nii.gz', 'labelsTr/lung_002.nii.gz', 'imagesTs/lung_003.nii.gz']) {
      assert.ok(fs.existsSync(path.join(dir, f)), f);
    }
    assert.ok(!fs.existsSync(path.join(dir, 'labelsTr/lung_003.nii.gz')));

    // the files hold the voxels and geometry of generateCase (read back with the SDK's NIfTI reader)
    const c2 = generateCase(2, { seed: 5, size: 'small' });
    for (const [rel, vol] of [['imagesTr/lung_002.nii.gz', c2.image], ['labelsTr/lung_002.nii.gz', c2.label]] as const) {
      const back = await readNifti(path.join(dir, rel));
      assert.equal(back.data.constructor, vol.data.constructor, rel);
      assert.deepEqual(back.shape, vol.shape, rel);
      assert.deepEqual(back.spacing, vol.spacing, rel);
      assert.deepEqual(back.origin, vol.origin, rel);
      assert.deepEqual(back.direction, vol.direction, rel);
      assert.equal(sha256(back.data), sha256(vol.data), rel);
    }
    // rerun: nothing rewritten; a damaged file is regenerated identically
    const stat = (f: string) => fs.statSync(path.join(dir, f)).mtimeMs;
    const before = stat('imagesTr/lung_001.nii.gz');
    const bytes1 = fs.readFileSync(path.join(dir, 'imagesTr/lung_001.nii.gz'));
    fs.writeFileSync(path.join(dir, 'imagesTs/lung_003.nii.gz'), 'damaged');
    await new Promise((r) => setTimeout(r, 20));
    await generateTask(tmp, { numTraining: 2, numTest: 1, size: 'small', seed: 5 });
    assert.equal(stat('imagesTr/lung_001.nii.gz'), before);
    const test3 = fs.readFileSync(path.join(dir, 'imagesTs/lung_003.nii.gz'));
    assert.equal(zlib.gunzipSync(test3).readInt32LE(0), 348);
    // a second folder generated from scratch has byte-identical files
    const tmp2 = fs.mkdtempSync(path.join(os.tmpdir(), 'synthlung-'));
    try {
      const dir2 = await generateTask(tmp2, { numTraining: 2, numTest: 1, size: 'small', seed: 5 });
      assert.ok(fs.readFileSync(path.join(dir2, 'imagesTr/lung_001.nii.gz')).equals(bytes1));
      assert.ok(fs.readFileSync(path.join(dir2, 'imagesTs/lung_003.nii.gz')).equals(test3));
    } finally {
      fs.rmSync(tmp2, { recursive: true, force: true });
    }
    assert.equal(fs.readdirSync(path.join(dir, 'imagesTr')).filter((f) => f.includes('.tmp-')).length, 0);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});

test('bad input is refused with a clear message', async () => {
  assert.throws(() => generateCase(0), /index must be an integer >= 1/);
  assert.throws(() => generateCase(1, { size: 'huge' as 'small' }), /unknown size 'huge'/);
  assert.throws(() => generateCase(1, { shape: [4, 40, 40], size: 'small' }), /shape must be integers >= 8/);
  await assert.rejects(generateTask(os.tmpdir(), { numTraining: 0, numTest: 0 }), /nothing to generate/);
  await assert.rejects(generateTask(os.tmpdir(), { taskName: '../evil' }), /taskName must look like/);
  assert.throws(() => parseArgs(['--n-train', '3']), /--out is required/);
  assert.throws(() => parseArgs(['--out', 'x', '--size', 'big']), /--size must be 'small', 'default' or 'quickstart'/);
  assert.deepEqual(parseArgs(['--out', 'x', '--n-train', '3', '--size', 'small']), { out: 'x', opts: { numTraining: 3, size: 'small' } });
});

test("quickstart profile: contrast-enhancing 6-12 mm tumours brighter than soft tissue; labelsTs written on request", async () => {
  for (let i = 1; i <= 3; i++) {
    const c = generateCase(i, { size: 'quickstart' });
    const [nz, ny, nx] = c.image.shape;
    assert.ok(nz >= 28 && nz <= 36 && ny >= 96 && ny <= 112 && nx >= 96 && nx <= 112, `case ${i} shape ${c.image.shape}`);
    let fg = 0;
    let fgSum = 0;
    let tissueAbove90 = 0;
    let tissue = 0;
    for (let j = 0; j < c.label.data.length; j++) {
      const v = c.image.data[j];
      if (c.label.data[j]) (fg++, (fgSum += v));
      else if (!c.lungMask[j] && v > -500) (tissue++, (tissueAbove90 += v > 90 ? 1 : 0));
    }
    const mean = fgSum / fg;
    // tumour HU drawn in 90..130 (+ texture and noise), soft tissue 0..60 (+ noise sd 12)
    assert.ok(mean > 85 && mean < 135, `case ${i}: tumour mean ${mean}`);
    assert.ok(tissueAbove90 / tissue < 0.01, `case ${i}: ${tissueAbove90}/${tissue} tissue voxels above 90 HU`);
    // at least one tumour of radius >= 6 mm (clipped to the lung): more voxels than the default profile's smallest
    const voxelMM3 = c.image.spacing[0] * c.image.spacing[1] * c.image.spacing[2];
    assert.ok(fg * voxelMM3 > 100, `case ${i}: ${fg} tumour voxels`);
  }
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'synthlung-q-'));
  try {
    const dir = await generateTask(tmp, { numTraining: 1, numTest: 1, size: 'quickstart', testLabels: true });
    const label = await readNifti(path.join(dir, 'labelsTs/lung_002.nii.gz'));
    assert.equal(sha256(label.data), sha256(generateCase(2, { size: 'quickstart' }).label.data));
    assert.ok(!fs.existsSync(path.join(dir, 'labelsTs/lung_001.nii.gz')), 'training labels stay in labelsTr');
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});
