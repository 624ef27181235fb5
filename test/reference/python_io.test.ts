// reference suite: python3 with numpy, scipy, nibabel (apt) -- our NIfTI/.npy files as nibabel/numpy read them; the official make_synthetic.py files
/**
 * File-format checks against the Python readers nnU-Net itself uses, and the synthetic-lung inputs as the official
 * generator writes them (npm test regenerates the same voxels with data-scripts/synthetic_lung.ts; here the official
 * script runs, every file's sha256 must equal input_hashes.json, and our reader must see the voxels our generator makes).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as crypto from 'crypto';
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { readNiftiFile, writeNifti } from '../../sdk/io/nifti';
import { writeNpySync } from '../../sdk/io/npy';
import { SynthLungStream } from '../../data-scripts/synthetic_lung';
import { testVolume } from '../helpers/volumes';
import { FIXTURES } from '../helpers/synthlung';

const PYTHON = process.env.NNUNET_REFERENCE_PYTHON ?? '/usr/bin/python3';

function tmpDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'nnunet-ts-pyref-'));
}

function sha256(b: ArrayBufferView): string {
  return crypto.createHash('sha256').update(Buffer.from(b.buffer, b.byteOffset, b.byteLength)).digest('hex');
}

// the reference suite fails (never skips) when what it needs is missing
test(`setup: ${PYTHON} imports numpy, scipy, nibabel`, () => {
  assert.ok(fs.existsSync(PYTHON), `no ${PYTHON}: apt-get install -y python3-numpy python3-scipy python3-nibabel python3-skimage`);
  const r = spawnSync(PYTHON, ['-c', 'import numpy, scipy, nibabel'], { encoding: 'utf8' });
  assert.equal(r.status, 0, `${PYTHON} lacks numpy/scipy/nibabel: apt-get install -y python3-numpy python3-scipy python3-nibabel\n${r.stderr}`);
});

test('written header: nibabel (reference reader) sees the same RAS qform and sform, pixdim, codes and voxels', async () => {
  const dir = tmpDir();
  const v = testVolume('int16', [0, 0, 1, 1, 0, 0, 0, -1, 0]);
  const f = path.join(dir, 'x.nii.gz');
  await writeNifti(f, v);
  const py = [
    'import sys, json, nibabel as nib, numpy as np',
    'i = nib.load(sys.argv[1]); h = i.header; a = np.asanyarray(i.dataobj)',
    'print(json.dumps({"q": i.get_qform().tolist(), "s": i.get_sform().tolist(), "qc": int(h["qform_code"]), "sc": int(h["sform_code"]),',
    ' "pixdim": h["pixdim"].tolist(), "dtype": str(a.dtype), "zyx": np.ascontiguousarray(a.transpose(2, 1, 0)).ravel().tolist()}))',
  ].join('\n');
  const out = JSON.parse(execFileSync(PYTHON, ['-c', py, f], { encoding: 'utf8' }));
  // expected RAS affine: columns = LPS direction columns with x,y negated, times spacing; translation = RAS origin
  const sp = [v.spacing[2], v.spacing[1], v.spacing[0]];
  const expected = [0, 1, 2].map((i) => [
    ...[0, 1, 2].map((j) => Math.fround((i < 2 ? -1 : 1) * v.direction[i * 3 + j] * sp[j]) + 0),
    Math.fround((i < 2 ? -1 : 1) * v.origin[i]),
  ]);
  expected.push([0, 0, 0, 1]);
  for (const m of [out.q, out.s]) {
    for (let i = 0; i < 4; i++) for (let j = 0; j < 4; j++) assert.ok(Math.abs(m[i][j] - expected[i][j]) < 1e-5, `affine[${i}][${j}]`);
  }
  assert.equal(out.qc, 1);
  assert.equal(out.sc, 1);
  assert.deepEqual(out.pixdim.slice(1, 4), sp);
  assert.equal(out.dtype, 'int16');
  assert.deepEqual(out.zyx, Array.from(v.data));
  fs.rmSync(dir, { recursive: true, force: true });
});


test('numpy reads our .npy files (float32 data, int8 seg, C order) with the same values', () => {
  const dir = tmpDir();
  const data = Float32Array.from({ length: 2 * 3 * 4 }, (_, i) => i * 0.5 - 3.25);
  const seg = Int8Array.from({ length: 2 * 3 * 4 }, (_, i) => (i % 3) - 1);
  const fd = path.join(dir, 'd.npy');
  const fs_ = path.join(dir, 's.npy');
  writeNpySync(fd, data, [1, 2, 3, 4]);
  writeNpySync(fs_, seg, [1, 2, 3, 4]);
  const py = 'import sys, json, numpy as np\nd=np.load(sys.argv[1]); s=np.load(sys.argv[2])\n' +
    'print(json.dumps([str(d.dtype), d.shape, d.ravel().tolist(), str(s.dtype), s.shape, s.ravel().tolist(), bool(d.flags.c_contiguous)]))';
  const [dd, ds, dv, sd, ss, sv, c] = JSON.parse(execFileSync(PYTHON, ['-c', py, fd, fs_], { encoding: 'utf8' }));
  assert.deepEqual([dd, ds, sd, ss, c], ['float32', [1, 2, 3, 4], 'int8', [1, 2, 3, 4], true]);
  assert.deepEqual(dv, Array.from(data));
  assert.deepEqual(sv, Array.from(seg));
  fs.rmSync(dir, { recursive: true, force: true });
});

test('official make_synthetic.py: files byte-identical to input_hashes.json; our reader sees exactly our generator\'s voxels', async () => {
  const dir = tmpDir();
  try {
    execFileSync(PYTHON, [path.join(FIXTURES, 'synthlung/inputs/make_synthetic.py'), '--out', dir], { stdio: 'pipe' });
    const hashes = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'synthlung/inputs/input_hashes.json'), 'utf8')).files as Record<string, { sha256_file: string }>;
    assert.ok(Object.keys(hashes).length >= 17);
    for (const [rel, h] of Object.entries(hashes)) {
      assert.equal(sha256(fs.readFileSync(path.join(dir, 'Task06_SynthLung', rel))), h.sha256_file, `${rel}: file sha256`);
    }
    const stream = new SynthLungStream(1234, 'default');
    for (let i = 1; i <= 9; i++) {
      const id = `lung_${String(i).padStart(3, '0')}`;
      const c = stream.next();
      const rel = i <= 8 ? `imagesTr/${id}.nii.gz` : `imagesTs/${id}.nii.gz`;
      const f = await readNiftiFile(path.join(dir, 'Task06_SynthLung', rel));
      const v = f.volumes[0];
      assert.equal(sha256(v.data), sha256(c.image.data), `${rel} voxels`);
      assert.deepEqual(v.shape, c.image.shape, `${rel} shape`);
      assert.deepEqual(v.spacing, c.image.spacing, `${rel} spacing`);
      assert.deepEqual(v.origin, c.image.origin, `${rel} origin`);
      assert.deepEqual(v.direction, c.image.direction, `${rel} direction`);
      if (i <= 8) {
        const l = (await readNiftiFile(path.join(dir, 'Task06_SynthLung', `labelsTr/${id}.nii.gz`))).volumes[0];
        assert.equal(sha256(l.data), sha256(c.label.data), `${id} label voxels`);
      }
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
