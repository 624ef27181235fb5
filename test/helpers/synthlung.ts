/**
 * The synthetic-lung fixture inputs (Task06_SynthLung, 8 train + 1 test int16 CT cases) are not stored in
 * ../shared (19.7 MB); the official generator regenerates them byte for byte with Debian's python3 + numpy +
 * scipy + nibabel (installed by .ci/run). Generated once into .cache/synthlung (git-ignored), verified against
 * the published sha256 of every file, then reused by every test.
 */
import * as crypto from 'crypto';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

export const FIXTURES = path.resolve(__dirname, '../../../shared/fixtures/official');
export const SHARED_DATA = path.resolve(__dirname, '../../../shared/data');
export const HIPPOCAMPUS_DIR = path.join(SHARED_DATA, 'Task04_Hippocampus');
const CACHE = path.resolve(__dirname, '../../.cache/synthlung');
const TASK = path.join(CACHE, 'Task06_SynthLung');
const PYTHON = process.env.NNUNET_REFERENCE_PYTHON ?? '/usr/bin/python3';

function sha256(file: string): string {
  return crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

interface InputHashes {
  files: Record<string, { sha256_file: string }>;
}

/** Path of the generated Task06_SynthLung folder (MSD layout). Throws with a clear message if python is missing. */
export function ensureSynthLung(): string {
  const marker = path.join(CACHE, '.verified');
  if (fs.existsSync(marker)) return TASK;
  const gen = path.join(FIXTURES, 'synthlung/inputs/make_synthetic.py');
  const tmp = `${CACHE}.tmp-${process.pid}-${Date.now()}`;
  fs.mkdirSync(tmp, { recursive: true });
  try {
    execFileSync(PYTHON, [gen, '--out', tmp], { stdio: 'pipe' });
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw new Error(
      `ensureSynthLung: running ${gen} with ${PYTHON} failed (needs Debian's python3-numpy, python3-scipy, ` +
        `python3-nibabel; .ci/run installs them): ${(e as Error).message}`,
    );
  }
  const hashes = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'synthlung/inputs/input_hashes.json'), 'utf8')) as InputHashes;
  for (const [rel, h] of Object.entries(hashes.files)) {
    const got = sha256(path.join(tmp, 'Task06_SynthLung', rel));
    if (got !== h.sha256_file) {
      fs.rmSync(tmp, { recursive: true, force: true });
      throw new Error(`ensureSynthLung: ${rel} does not match the published sha256 (generator environment differs)`);
    }
  }
  fs.writeFileSync(path.join(tmp, '.verified'), new Date().toISOString());
  fs.mkdirSync(path.dirname(CACHE), { recursive: true });
  try {
    fs.renameSync(tmp, CACHE);
  } catch {
    // another test process won the race: keep theirs
    fs.rmSync(tmp, { recursive: true, force: true });
    if (!fs.existsSync(marker)) throw new Error('ensureSynthLung: concurrent generation failed');
  }
  return TASK;
}
