import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as zlib from 'zlib';
import { readNifti, readNiftiFile, readNiftiChannels, writeNifti, decodeNifti, encodeNifti, NiftiDtype } from '../../sdk/io/nifti';
import { makeVolume, Volume, VoxelArray } from '../../sdk/io/volume';
import { readNpy } from '../../sdk/io/npy';
import { ensureSynthLung } from '../helpers/synthlung';
import { ALL_DTYPES, testVolume } from '../helpers/volumes';

const FIX = path.resolve(__dirname, '../../../shared/fixtures/official');
const DATA = path.resolve(__dirname, '../../../shared/data');
const HIPPO = path.join(DATA, 'Task04_Hippocampus');

function tmpDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'nnunet-ts-nifti-'));
}

function dtypeName(a: VoxelArray): string {
  return a.constructor.name.replace('Array', '').toLowerCase(); // Float32Array -> float32
}

function sha256(a: VoxelArray): string {
  return crypto.createHash('sha256').update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength)).digest('hex');
}

function uniq(a: VoxelArray): number[] {
  return [...new Set(Array.from(a))].sort((x, y) => x - y);
}

interface CaseRow {
  original_size_of_raw_data: number[];
  original_spacing: number[];
  seg_unique_after_preprocessing: number[];
  image_dtype_on_disk: string;
  label_dtype_on_disk: string;
}

test('all 200 hippocampus cases: shape, spacing, on-disk dtype and label values match the official v1 case table', async () => {
  const table = JSON.parse(fs.readFileSync(path.join(FIX, 'hippocampus_v1_case_table.json'), 'utf8')).cases as Record<string, CaseRow>;
  const ids = Object.keys(table).sort();
  assert.equal(ids.length, 200);
  const dtypes = { image: new Map<string, number>(), label: new Map<string, number>() };
  for (const id of ids) {
    const row = table[id];
    const img = await readNiftiFile(path.join(HIPPO, 'imagesTr', `${id}.nii.gz`));
    const lab = await readNiftiFile(path.join(HIPPO, 'labelsTr', `${id}.nii.gz`));
    for (const [f, what] of [
      [img, 'image'],
      [lab, 'label'],
    ] as const) {
      assert.equal(f.volumes.length, 1);
      const v = f.volumes[0];
      assert.deepEqual(v.shape, row.original_size_of_raw_data, `${id} ${what} shape`);
      assert.deepEqual(v.spacing, row.original_spacing, `${id} ${what} spacing`);
      assert.equal(dtypeName(v.data), f.dtype, `${id} ${what}: no rescale, voxels keep the on-disk type`);
      dtypes[what].set(f.dtype, (dtypes[what].get(f.dtype) ?? 0) + 1);
    }
    assert.equal(img.dtype, row.image_dtype_on_disk, `${id} image dtype`);
    assert.equal(lab.dtype, row.label_dtype_on_disk, `${id} label dtype`);
    // the preprocessed seg is the raw label with -1 where background lies outside the nonzero mask
    assert.deepEqual(uniq(lab.volumes[0].data), row.seg_unique_after_preprocessing.filter((x) => x !== -1), `${id} label values`);
  }
  // README: 154 float32 + 46 uint8 images; 198 uint8 + 2 float32 labels
  assert.deepEqual(Object.fromEntries(dtypes.image), { float32: 154, uint8: 46 });
  assert.deepEqual(Object.fromEntries(dtypes.label), { uint8: 198, float32: 2 });
});

test('hippocampus fixture cases: ITK origin/spacing/direction and voxel order match the official properties and arrays', async () => {
  for (const id of ['hippocampus_001', 'hippocampus_003', 'hippocampus_004']) {
    const props = JSON.parse(fs.readFileSync(path.join(FIX, 'hippocampus_cases', `${id}_properties.json`), 'utf8'));
    const img = await readNifti(path.join(HIPPO, 'imagesTr', `${id}.nii.gz`));
    const lab = await readNifti(path.join(HIPPO, 'labelsTr', `${id}.nii.gz`));
    for (const v of [img, lab]) {
      assert.deepEqual(v.origin, props.itk_origin, `${id} origin`);
      assert.deepEqual(v.direction, props.itk_direction, `${id} direction`);
      assert.deepEqual([...v.spacing].reverse(), props.itk_spacing, `${id} itk spacing (x,y,z)`);
      assert.deepEqual(v.shape, props.original_size_of_raw_data);
    }
    // official preprocessed data = per-case z-score of the raw image (no crop, no resampling for these cases):
    // recomputing it from our voxels checks the (z, y, x) order voxel by voxel (README tolerance 1e-5)
    const data = readNpy(path.join(FIX, 'hippocampus_cases', `${id}_data.npy`));
    const seg = readNpy(path.join(FIX, 'hippocampus_cases', `${id}_seg.npy`));
    assert.deepEqual(data.shape, [1, ...img.shape]);
    let mean = 0;
    for (let i = 0; i < img.data.length; i++) mean += Math.fround(img.data[i]);
    mean /= img.data.length;
    let varsum = 0;
    for (let i = 0; i < img.data.length; i++) varsum += (Math.fround(img.data[i]) - mean) ** 2;
    const std = Math.sqrt(varsum / img.data.length);
    let maxErr = 0;
    for (let i = 0; i < img.data.length; i++) {
      maxErr = Math.max(maxErr, Math.abs((Math.fround(img.data[i]) - mean) / (std + 1e-8) - data.data[i]));
    }
    assert.ok(maxErr < 1e-5, `${id}: z-score differs by ${maxErr}`);
    let segMismatch = 0;
    for (let i = 0; i < lab.data.length; i++) if (seg.data[i] !== -1 && seg.data[i] !== lab.data[i]) segMismatch++;
    assert.equal(segMismatch, 0, `${id}: label voxels differ from the official seg`);
  }
});

test('synthetic lung (int16 CT, anisotropic), as written by our generator and writer: shapes, spacings, voxel sha256 and ITK geometry match the official files', async () => {
  const task = await ensureSynthLung();
  const hashes = JSON.parse(fs.readFileSync(path.join(FIX, 'synthlung/inputs/input_hashes.json'), 'utf8')).files as Record<
    string,
    { dtype: string; shape_zyx: number[]; pixdim_xyz: number[]; sha256_voxels_zyx_C_order: string }
  >;
  const cropped = JSON.parse(fs.readFileSync(path.join(FIX, 'synthlung/v1/cropped_case_properties.json'), 'utf8'));
  assert.ok(Object.keys(hashes).length >= 17);
  for (const [rel, h] of Object.entries(hashes)) {
    const f = await readNiftiFile(path.join(task, rel));
    const v = f.volumes[0];
    assert.equal(f.dtype, h.dtype, rel);
    assert.deepEqual(v.shape, h.shape_zyx, rel);
    assert.deepEqual(v.spacing, [...h.pixdim_xyz].reverse(), rel);
    assert.equal(sha256(v.data), h.sha256_voxels_zyx_C_order, `${rel}: voxel bytes in z,y,x C order`);
    const id = path.basename(rel, '.nii.gz');
    const props = cropped[id];
    if (props) {
      assert.deepEqual(v.origin, props.itk_origin, `${rel} origin`);
      assert.deepEqual(v.direction, props.itk_direction, `${rel} direction`);
      assert.deepEqual([...v.spacing].reverse(), props.itk_spacing, `${rel} spacing`);
      assert.deepEqual(v.shape, props.original_size_of_raw_data, `${rel} size`);
    }
  }
});

test('ct-sample (qform_code 0, sform_code 2): int16 CT and uint8 labels with the sform geometry', async () => {
  const ct = await readNiftiFile(path.join(DATA, 'ct-sample/ct.nii.gz'));
  const seg = await readNiftiFile(path.join(DATA, 'ct-sample/seg.nii.gz'));
  assert.equal(ct.transform, 'sform');
  assert.ok(ct.volumes[0].data instanceof Int16Array);
  assert.ok(seg.volumes[0].data instanceof Uint8Array);
  for (const v of [ct.volumes[0], seg.volumes[0]]) {
    assert.deepEqual(v.shape, [30, 101, 122]);
    assert.deepEqual(v.spacing, [3, 3, 3]);
    // header srow_x/y/z translations (-177.95633, 11.319, 94.30176 as float32), RAS -> LPS
    assert.deepEqual(v.origin, [Math.fround(177.95633), Math.fround(-11.319), Math.fround(94.30176)]);
    assert.deepEqual(v.direction, [-1, 0, 0, 0, -1, 0, 0, 0, 1]);
  }
  // sha256 of nibabel's array transposed to z,y,x, and its value range (independent reference reader)
  assert.equal(sha256(ct.volumes[0].data), 'd46fabdda64cab23afd3eee9d16f527d0531ce53b377d7de040603b9e991c77b');
  assert.equal(sha256(seg.volumes[0].data), 'f266b56668d97b06817a7ae88814321eb3ce32d0cc50229ad56504f2b2f4fa36');
  const vals = uniq(seg.volumes[0].data);
  assert.equal(vals.length, 42);
  assert.equal(vals[vals.length - 1], 117);
});

function assertSameVolume(a: Volume, b: Volume, msg: string): void {
  assert.equal(a.data.constructor, b.data.constructor, `${msg}: type`);
  assert.deepEqual(Array.from(a.data), Array.from(b.data), `${msg}: voxels`);
  assert.deepEqual(a.shape, b.shape, `${msg}: shape`);
  assert.deepEqual(a.spacing, b.spacing, `${msg}: spacing`);
  assert.deepEqual(a.origin, b.origin, `${msg}: origin`);
  assert.deepEqual(a.direction, b.direction, `${msg}: direction`);
}

test('read(write(v)) == v exactly for every dtype, .nii and .nii.gz, identity / flipped / permuted directions', async () => {
  const dir = tmpDir();
  const directions = [
    [1, 0, 0, 0, 1, 0, 0, 0, 1],
    [-1, 0, 0, 0, -1, 0, 0, 0, 1],
    [0, 0, 1, 1, 0, 0, 0, -1, 0], // a permutation with a flip (sagittal-like acquisition)
  ];
  for (const dtype of ALL_DTYPES) {
    for (const [k, d] of directions.entries()) {
      for (const ext of ['.nii', '.nii.gz']) {
        const v = testVolume(dtype, d);
        const f = path.join(dir, `v_${dtype}_${k}${ext}`);
        await writeNifti(f, v);
        const r = await readNiftiFile(f);
        assert.equal(r.dtype, dtype);
        assert.equal(r.transform, 'sform');
        assertSameVolume(r.volumes[0], v, `${dtype} dir${k} ${ext}`);
      }
    }
  }
  // no temp files left behind by the atomic writes
  assert.ok(fs.readdirSync(dir).every((f) => !f.includes('.tmp-')));
  fs.rmSync(dir, { recursive: true, force: true });
});

test('writeNifti: chosen on-disk dtype, oblique directions to float precision and stable on a second round trip', async () => {
  const dir = tmpDir();
  const v = testVolume('float64', [1, 0, 0, 0, 1, 0, 0, 0, 1]);
  for (let i = 0; i < v.data.length; i++) v.data[i] = Math.round(v.data[i]) + 0; // +0: no -0 in the comparison
  await writeNifti(path.join(dir, 'a.nii.gz'), v, { dtype: 'int16' });
  const r = await readNiftiFile(path.join(dir, 'a.nii.gz'));
  assert.equal(r.dtype, 'int16');
  assert.deepEqual(Array.from(r.volumes[0].data), Array.from(v.data));
  await assert.rejects(writeNifti(path.join(dir, 'b.nii.gz'), makeVolume(new Float32Array([300]), [1, 1, 1]), { dtype: 'uint8' }), /b\.nii\.gz.*does not fit uint8/);

  const c = Math.cos(0.4),
    s = Math.sin(0.4);
  const ob = testVolume('float32', [c, -s, 0, s, c, 0, 0, 0, 1]);
  await writeNifti(path.join(dir, 'ob.nii.gz'), ob);
  const r1 = await readNifti(path.join(dir, 'ob.nii.gz'));
  r1.direction.forEach((x, i) => assert.ok(Math.abs(x - ob.direction[i]) < 1e-6, `direction ${i}`));
  assert.deepEqual(r1.origin, ob.origin);
  await writeNifti(path.join(dir, 'ob2.nii.gz'), r1);
  assertSameVolume(await readNifti(path.join(dir, 'ob2.nii.gz')), r1, 'second round trip');
  fs.rmSync(dir, { recursive: true, force: true });
});

test('4D: a two-channel file becomes one Volume per channel; readNifti refuses it naming the file', async () => {
  const dir = tmpDir();
  const a = testVolume('float32', [-1, 0, 0, 0, -1, 0, 0, 0, 1]);
  const b = { ...a, data: a.data.map((x) => x * 2 + 1) };
  const f = path.join(dir, 'mm.nii.gz');
  await writeNifti(f, [a, b]);
  const ch = await readNiftiChannels(f);
  assert.equal(ch.length, 2);
  assertSameVolume(ch[0], a, 'channel 0');
  assertSameVolume(ch[1], b as Volume, 'channel 1');
  await assert.rejects(readNifti(f), new RegExp(`${path.basename(f)}.*2 channels`));
  fs.rmSync(dir, { recursive: true, force: true });
});

// ---- hand-built headers: the qform/sform rule, scl_slope, endianness

interface RawOpts {
  dims: number[]; // nx, ny, nz[, nt]
  datatype: number;
  bitpix: number;
  pixdim: number[]; // [qfac, dx, dy, dz]
  qformCode?: number;
  sformCode?: number;
  quatern?: number[];
  qoffset?: number[];
  srow?: number[][];
  slope?: number;
  inter?: number;
  le?: boolean;
  units?: number; // xyzt_units (default 10: mm + s)
  voxels: Uint8Array; // already in file byte order
}

function rawNifti(o: RawOpts): Uint8Array {
  const le = o.le ?? true;
  const out = new Uint8Array(352 + o.voxels.length);
  const v = new DataView(out.buffer);
  v.setInt32(0, 348, le);
  v.setInt16(40, o.dims.length, le);
  o.dims.forEach((d, i) => v.setInt16(42 + 2 * i, d, le));
  for (let i = o.dims.length + 1; i < 8; i++) v.setInt16(40 + 2 * i, 1, le);
  v.setInt16(70, o.datatype, le);
  v.setInt16(72, o.bitpix, le);
  o.pixdim.forEach((p, i) => v.setFloat32(76 + 4 * i, p, le));
  v.setFloat32(108, 352, le);
  v.setFloat32(112, o.slope ?? 1, le);
  v.setFloat32(116, o.inter ?? 0, le);
  out[123] = o.units ?? 10;
  v.setInt16(252, o.qformCode ?? 0, le);
  v.setInt16(254, o.sformCode ?? 0, le);
  (o.quatern ?? [0, 0, 0]).forEach((q, i) => v.setFloat32(256 + 4 * i, q, le));
  (o.qoffset ?? [0, 0, 0]).forEach((q, i) => v.setFloat32(268 + 4 * i, q, le));
  (o.srow ?? [[0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]]).forEach((r, i) => r.forEach((x, j) => v.setFloat32(280 + (i * 4 + j) * 4, x, le)));
  out.set([0x6e, 0x2b, 0x31, 0], 344);
  out.set(o.voxels, 352);
  return out;
}

const u8 = (n: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => i);

test('qform only: quaternion, qoffset and qfac give the ITK LPS geometry', async () => {
  // quaternion (b,c,d) = (0,0,1): 180 degrees about z, R = diag(-1,-1,1); RAS -> LPS makes it the identity
  const base = { dims: [2, 3, 4], datatype: 2, bitpix: 8, voxels: u8(24), qformCode: 1, quatern: [0, 0, 1], qoffset: [10, 20, 30] };
  const r = await decodeNifti(rawNifti({ ...base, pixdim: [1, 2, 3, 4] }), 'q.nii');
  assert.equal(r.transform, 'qform');
  const v = r.volumes[0];
  assert.deepEqual(v.shape, [4, 3, 2]);
  assert.deepEqual(v.spacing, [4, 3, 2]);
  assert.deepEqual(v.origin, [-10, -20, 30]);
  assert.deepEqual(v.direction, [1, 0, 0, 0, 1, 0, 0, 0, 1]);
  // qfac = -1 (pixdim[0] < 0) flips the third axis
  const r2 = await decodeNifti(rawNifti({ ...base, pixdim: [-1, 2, 3, 4] }), 'q2.nii');
  assert.deepEqual(r2.volumes[0].direction, [1, 0, 0, 0, 1, 0, 0, 0, -1]);
  // neither code: origin 0, identity, spacing from pixdim
  const r3 = await decodeNifti(rawNifti({ ...base, qformCode: 0, pixdim: [1, 2, 3, 4] }), 'none.nii');
  assert.equal(r3.transform, 'none');
  assert.deepEqual(r3.volumes[0].origin, [0, 0, 0]);
  assert.deepEqual(r3.volumes[0].direction, [1, 0, 0, 0, 1, 0, 0, 0, 1]);
});

test('qform vs sform precedence follows ITK 5: SCANNER_ANAT sform wins, a differing ALIGNED sform or a skewed sform loses', async () => {
  const base = { dims: [2, 3, 4], datatype: 2, bitpix: 8, voxels: u8(24), pixdim: [1, 2, 3, 4], qformCode: 1, quatern: [0, 0, 0], qoffset: [1, 2, 3] };
  const sformDiff = [
    [-2, 0, 0, 50],
    [0, -3, 0, 60],
    [0, 0, 4, 70],
  ];
  const scanner = await decodeNifti(rawNifti({ ...base, sformCode: 1, srow: sformDiff }), 's1.nii');
  assert.equal(scanner.transform, 'sform');
  assert.deepEqual(scanner.volumes[0].origin, [-50, -60, 70]);
  assert.deepEqual(scanner.volumes[0].direction, [1, 0, 0, 0, 1, 0, 0, 0, 1]);
  const aligned = await decodeNifti(rawNifti({ ...base, sformCode: 2, srow: sformDiff }), 's2.nii');
  assert.equal(aligned.transform, 'qform', 'ALIGNED_ANAT sform that differs from a valid qform: ITK keeps the qform');
  assert.deepEqual(aligned.volumes[0].origin, [-1, -2, 3]);
  assert.deepEqual(aligned.volumes[0].direction, [-1, 0, 0, 0, -1, 0, 0, 0, 1]);
  const skew = [
    [2, 1, 0, 5],
    [0, 3, 0, 6],
    [0, 0, 4, 7],
  ];
  const skewed = await decodeNifti(rawNifti({ ...base, sformCode: 1, srow: skew }), 'skew.nii');
  assert.equal(skewed.transform, 'qform', 'a non-orthonormal sform is not used');
  // skewed sform and no qform: ITK refuses the file
  await assert.rejects(decodeNifti(rawNifti({ ...base, qformCode: 0, sformCode: 1, srow: skew }), 'bad.nii'), /bad\.nii: .*orthonormal/);
  // sform only (ALIGNED) is used, like ct-sample
  const only = await decodeNifti(rawNifti({ ...base, qformCode: 0, sformCode: 2, srow: sformDiff }), 'sonly.nii');
  assert.equal(only.transform, 'sform');
});

test('geometry equals ITK NiftiImageIO bit for bit (expected values printed by ITK 5.2.1 ImageFileReader<double,3>)', async () => {
  // ITK reference: Debian libinsighttoolkit5-dev 5.2.1, a 20-line C++ reader printing GetSpacing/GetOrigin/GetDirection
  // with %.17g for these exact header bytes
  const base = { dims: [2, 3, 4], datatype: 2, bitpix: 8, voxels: u8(24), pixdim: [1, 2, 3, 4] };
  const t = 0.3;
  const rot = [
    [Math.cos(t), -Math.sin(t), 0],
    [Math.sin(t), Math.cos(t), 0],
    [0, 0, 1],
  ];
  const cases: [string, RawOpts, number[], number[], number[]][] = [
    [
      'oblique qform (code 2)',
      { ...base, qformCode: 2, quatern: [0.1, 0.2, 0.3], qoffset: [-5, 6, 7.5] },
      [2, 3, 4],
      [5, -6, 7.5],
      [
        -0.73999999667001748, 0.51641715518899145, -0.43094474999717958, -0.59641711866958125, -0.79999996697098885, 0.065472365827180232,
        -0.31094473059733441, 0.30547237955816198, 0.89999999542381126,
      ],
    ],
    [
      'oblique sform only (code 2)',
      { ...base, sformCode: 2, srow: rot.map((r, i) => [...r.map((x, j) => x * [2, 3, 4][j]), [5, 6, 7][i]]) },
      [2, 3, 4],
      [-5, -6, 7],
      [-0.95533648834727358, 0.29552020572015553, 0, -0.29552020917747651, -0.95533648941674831, 0, 0, 0, 1],
    ],
    ['negative pixdim[2] with a qform', { ...base, pixdim: [1, -2, 3, 4], qformCode: 1, qoffset: [1, 2, 3] }, [2, 3, 4], [-1, -2, 3], [1, 0, 0, 0, -1, 0, 0, 0, 1]],
    ['quaternion (1,0,0): 180 degrees about x', { ...base, qformCode: 1, quatern: [1, 0, 0] }, [2, 3, 4], [0, 0, 0], [-1, 0, 0, 0, 1, 0, 0, 0, -1]],
    ['xyzt_units metre', { ...base, units: 1, qformCode: 1, qoffset: [1, 2, 3] } as RawOpts, [2000, 3000, 4000], [-1, -2, 3], [-1, 0, 0, 0, -1, 0, 0, 0, 1]],
    ['pixdim 0 becomes 1', { ...base, pixdim: [1, 0, 3, 4], qformCode: 1 }, [1, 3, 4], [0, 0, 0], [-1, 0, 0, 0, -1, 0, 0, 0, 1]],
  ];
  for (const [what, raw, itkSpacing, itkOrigin, itkDirection] of cases) {
    const v = (await decodeNifti(rawNifti(raw), what)).volumes[0];
    assert.deepEqual([...v.spacing].reverse(), itkSpacing, `${what}: spacing`);
    assert.deepEqual(v.origin, itkOrigin, `${what}: origin`);
    assert.deepEqual(v.direction, itkDirection, `${what}: direction`);
  }
  // our writer with an oblique direction, read back: ITK reads the same file to the same doubles
  const dir = tmpDir();
  const v = makeVolume(Float32Array.from({ length: 60 }, (_, i) => i * 0.25), [3, 4, 5], {
    spacing: [2.5, 0.7, 0.9],
    origin: [10.1, -20.2, 30.3],
    direction: [0.36, 0.48, -0.8, -0.8, 0.6, 0, 0.48, 0.64, 0.6],
  });
  await writeNifti(path.join(dir, 'w.nii.gz'), v);
  const r = await readNifti(path.join(dir, 'w.nii.gz'));
  assert.deepEqual(r.direction, [
    0.36000001441107904, 0.47999999516350855, -0.8, -0.7999999952316281, 0.6000000258854455, -7.152556946721234e-9, 0.4799999971389769,
    0.6399999793597626, 0.6,
  ]);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('scl_slope / scl_inter: integers promoted to float32 and rescaled; slope 0 means no scaling', async () => {
  const vox = new Int16Array([-3, 0, 5, 1000, -32768, 32767]);
  const raw = { dims: [6, 1, 1], datatype: 4, bitpix: 16, pixdim: [1, 1, 1, 1], voxels: new Uint8Array(vox.buffer) };
  const r = await decodeNifti(rawNifti({ ...raw, slope: 0.5, inter: -1 }), 'scl.nii');
  assert.equal(r.dtype, 'int16');
  assert.ok(r.volumes[0].data instanceof Float32Array);
  assert.deepEqual(Array.from(r.volumes[0].data), Array.from(vox).map((x) => Math.fround(x * 0.5 - 1)));
  const r0 = await decodeNifti(rawNifti({ ...raw, slope: 0, inter: 0 }), 'scl0.nii');
  assert.ok(r0.volumes[0].data instanceof Int16Array);
  assert.deepEqual(Array.from(r0.volumes[0].data), Array.from(vox));
});

test('header extensions (vox_offset > 352) are skipped, even malformed ones', async () => {
  const vox = u8(6);
  const base = rawNifti({ dims: [3, 2, 1], datatype: 2, bitpix: 8, pixdim: [1, 1, 1, 1], voxels: new Uint8Array(0) });
  const withExt = new Uint8Array(352 + 32 + 6);
  withExt.set(base.subarray(0, 352));
  const dv = new DataView(withExt.buffer);
  dv.setFloat32(108, 384, true); // vox_offset
  withExt[348] = 1; // extension flag
  dv.setInt32(352, 999999, true); // esize far beyond the file: malformed
  withExt.set(vox, 384);
  const r = await decodeNifti(withExt, 'ext.nii');
  assert.deepEqual(Array.from(r.volumes[0].data), Array.from(vox));
});

test('big-endian files are byte-swapped; gzip detection does not depend on the file name', async () => {
  const vals = [1.5, -2.25, 1e6, 0, -0.125, 3];
  const be = new Uint8Array(24);
  const dv = new DataView(be.buffer);
  vals.forEach((x, i) => dv.setFloat32(4 * i, x, false));
  const bytes = rawNifti({ dims: [3, 2, 1], datatype: 16, bitpix: 32, pixdim: [1, 1, 1, 1], voxels: be, le: false, qformCode: 1, qoffset: [0, 0, 0] });
  const r = await decodeNifti(zlib.gzipSync(bytes), 'be.nii');
  assert.deepEqual(Array.from(r.volumes[0].data), vals);
  assert.deepEqual(r.volumes[0].shape, [1, 2, 3]);
});

test('bad input: errors name the file and the problem', async () => {
  const dir = tmpDir();
  const good = await encodeNifti(testVolume('int16', [1, 0, 0, 0, 1, 0, 0, 0, 1]));
  fs.writeFileSync(path.join(dir, 'trunc.nii'), good.subarray(0, good.length - 10));
  await assert.rejects(readNifti(path.join(dir, 'trunc.nii')), /trunc\.nii: truncated NIfTI/);
  fs.writeFileSync(path.join(dir, 'junk.nii.gz'), Buffer.from('not a nifti at all'));
  await assert.rejects(readNifti(path.join(dir, 'junk.nii.gz')), /junk\.nii\.gz: not a NIfTI file/);
  fs.writeFileSync(path.join(dir, 'badgz.nii.gz'), Buffer.from([0x1f, 0x8b, 1, 2, 3, 4]));
  await assert.rejects(readNifti(path.join(dir, 'badgz.nii.gz')), /badgz\.nii\.gz: corrupt gzip/);
  await assert.rejects(readNifti(path.join(dir, 'nope.nii.gz')), /nope\.nii\.gz: cannot read \(file does not exist\)/);
  const rgb = rawNifti({ dims: [1, 1, 1], datatype: 128, bitpix: 24, pixdim: [1, 1, 1, 1], voxels: new Uint8Array(3) });
  await assert.rejects(decodeNifti(rgb, 'rgb.nii'), /rgb\.nii: NIfTI datatype rgb24 is not supported/);
  await assert.rejects(writeNifti(path.join(dir, 'x.nrrd'), testVolume('uint8', [1, 0, 0, 0, 1, 0, 0, 0, 1])), /x\.nrrd: NIfTI file names end with/);
  const badShape = { ...testVolume('uint8', [1, 0, 0, 0, 1, 0, 0, 0, 1]), shape: [2, 2, 2] as [number, number, number] };
  await assert.rejects(writeNifti(path.join(dir, 'y.nii.gz'), badShape), /y\.nii\.gz: cannot write NIfTI: .*105 voxels but shape 2x2x2/);
  fs.rmSync(dir, { recursive: true, force: true });
});
