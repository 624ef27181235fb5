/**
 * The synthetic-lung fixture inputs (Task06_SynthLung, 8 train + 1 test int16 CT cases) are not stored in
 * ../shared (19.7 MB). `npm test` regenerates them without Python through data-scripts/synthetic_lung.ts, the
 * bit-exact port of the official make_synthetic.py: generated once into .cache/synthlung (git-ignored), every
 * file read back and checked against the published voxel sha256, shape and pixdim, then reused by every test.
 * (The files' own bytes differ from nibabel's: another gzip and header padding. The reference suite,
 * `npm run test:reference`, runs make_synthetic.py itself and checks the file sha256 as well.)
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { readNiftiFile } from '../../sdk/io/nifti';
import { SynthLungStream, SYNTH_LUNG_DEFAULT_SEED } from '../../data-scripts/synthetic_lung';
import { encodeNifti } from '../../sdk/io/nifti';

export const FIXTURES = path.resolve(__dirname, '../../../shared/fixtures/official');
export const SHARED_DATA = path.resolve(__dirname, '../../../shared/data');
export const HIPPOCAMPUS_DIR = path.join(SHARED_DATA, 'Task04_Hippocampus');
const CACHE = path.resolve(__dirname, '../../.cache/synthlung');
const TASK = path.join(CACHE, 'Task06_SynthLung');
/** Bump when the cached files must be rebuilt (generator or writer change). */
const CACHE_VERSION = 'ts-generator v1';

interface InputHashes {
  files: Record<string, { dtype: string; shape_zyx: number[]; pixdim_xyz: number[]; sha256_voxels_zyx_C_order: string }>;
}

function sha256(a: ArrayBufferView): string {
  return crypto.createHash('sha256').update(Buffer.from(a.buffer, a.byteOffset, a.byteLength)).digest('hex');
}

let verified: Promise<string> | null = null;

/** Path of the generated Task06_SynthLung folder (MSD layout), the official fixture inputs voxel for voxel. */
export function ensureSynthLung(): Promise<string> {
  return (verified ??= build());
}

async function build(): Promise<string> {
  const marker = path.join(CACHE, '.verified');
  if (fs.existsSync(marker) && fs.readFileSync(marker, 'utf8').startsWith(CACHE_VERSION)) return TASK;
  if (fs.existsSync(marker)) fs.rmSync(marker); // written by an older version: rebuild
  const hashes = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'synthlung/inputs/input_hashes.json'), 'utf8')) as InputHashes;
  const dataset = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'synthlung/inputs/dataset.json'), 'utf8'));
  const tmp = `${CACHE}.tmp-${process.pid}-${Date.now()}`;
  const root = path.join(tmp, 'Task06_SynthLung');
  try {
    for (const sub of ['imagesTr', 'labelsTr', 'imagesTs']) fs.mkdirSync(path.join(root, sub), { recursive: true });
    const stream = new SynthLungStream(SYNTH_LUNG_DEFAULT_SEED, 'default');
    const n = dataset.numTraining + dataset.numTest;
    for (let i = 1; i <= n; i++) {
      const id = `lung_${String(i).padStart(3, '0')}`;
      const c = stream.next();
      const train = i <= dataset.numTraining;
      const files: [string, typeof c.image | typeof c.label][] = train
        ? [[`imagesTr/${id}.nii.gz`, c.image], [`labelsTr/${id}.nii.gz`, c.label]]
        : [[`imagesTs/${id}.nii.gz`, c.image]];
      for (const [rel, vol] of files) fs.writeFileSync(path.join(root, rel), await encodeNifti(vol, { gzip: true }));
    }
    fs.writeFileSync(path.join(root, 'dataset.json'), JSON.stringify(dataset, null, 4) + '\n');
    // read every file back the way the pipeline will, and hold it to the published hashes
    for (const [rel, h] of Object.entries(hashes.files)) {
      const f = await readNiftiFile(path.join(root, rel));
      const v = f.volumes[0];
      const problems: string[] = [];
      if (f.dtype !== h.dtype) problems.push(`dtype ${f.dtype} != ${h.dtype}`);
      if (JSON.stringify(v.shape) !== JSON.stringify(h.shape_zyx)) problems.push(`shape ${v.shape} != ${h.shape_zyx}`);
      if (JSON.stringify([...v.spacing].reverse()) !== JSON.stringify(h.pixdim_xyz)) problems.push(`pixdim ${[...v.spacing].reverse()} != ${h.pixdim_xyz}`);
      if (sha256(v.data) !== h.sha256_voxels_zyx_C_order) problems.push('voxel sha256 differs');
      if (problems.length) throw new Error(`ensureSynthLung: ${rel} does not match input_hashes.json: ${problems.join('; ')}`);
    }
    fs.writeFileSync(path.join(tmp, '.verified'), `${CACHE_VERSION} ${new Date().toISOString()}\n`);
    fs.mkdirSync(path.dirname(CACHE), { recursive: true });
    if (fs.existsSync(CACHE) && !fs.existsSync(marker)) {
      // stale cache (older version or an interrupted run): move it aside atomically, then delete it
      const trash = `${CACHE}.old-${process.pid}-${Date.now()}`;
      try {
        fs.renameSync(CACHE, trash);
        fs.rmSync(trash, { recursive: true, force: true });
      } catch {
        // another process moved it first
      }
    }
    try {
      fs.renameSync(tmp, CACHE);
    } catch {
      // another test process won the race: keep theirs
      if (!fs.existsSync(marker)) throw new Error('ensureSynthLung: concurrent generation failed');
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  return TASK;
}
