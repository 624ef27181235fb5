/**
 * Dataset integrity check, like nnU-Net's `--verify_dataset_integrity` (v1 `verify_dataset_integrity`, v2
 * `verify_dataset_integrity` / `check_cases`), but collecting every problem instead of stopping at the first:
 *  - every listed image channel and label exists and is a readable NIfTI-1 file;
 *  - the number of channels matches dataset.json (4D MSD files: size of the 4th dimension; v2: _XXXX files);
 *  - image channels and label share shape (exact) and spacing, origin, direction (np.isclose: rtol 1e-5, atol 1e-8,
 *    as v1's verify_same_geometry);
 *  - label values are integers declared in dataset.json, declared labels are consecutive from 0 (both as nnU-Net);
 *  - images contain no NaN / Inf voxels;
 *  - problems found while reading dataset.json: entries outside the dataset folder ('..', absolute), duplicate case
 *    ids, numTraining mismatch (v2), and (MSD) .nii.gz files in imagesTr/labelsTr that no entry lists.
 * Files are only read, never modified. macOS `._*` files are ignored.
 */
import * as fs from 'fs';
import * as path from 'path';
import { decodeNifti } from './nifti';
import { progress } from '../util/progress';
import type { Dataset, DatasetCase, DatasetProblem } from './dataset';
import type { Volume } from './volume';

export interface IntegrityOptions {
  /** throw one Error listing every problem (default false: return the report) */
  throwOnError?: boolean;
  /** also check the test cases (default true) */
  checkTestCases?: boolean;
  /** cases read concurrently (gunzip runs on libuv's thread pool); default 2 (bounds memory on large CTs) */
  concurrency?: number;
  /** report progress through sdk/util/progress (default true) */
  progress?: boolean;
}

export interface IntegrityReport {
  ok: boolean;
  problems: DatasetProblem[];
  casesChecked: number;
  filesChecked: number;
  /** every label value found in the training labels, sorted */
  labelValuesFound: number[];
  summary(): string;
}

/** numpy isclose(a, b) with its defaults (rtol 1e-5, atol 1e-8). */
function isClose(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((x, i) => Math.abs(x - b[i]) <= 1e-8 + 1e-5 * Math.abs(b[i]));
}

function fmt(v: readonly number[]): string {
  return `(${v.map((x) => +x.toPrecision(8)).join(', ')})`;
}

function countNonFinite(v: Volume): number {
  const d = v.data;
  if (!(d instanceof Float32Array || d instanceof Float64Array)) return 0;
  let n = 0;
  for (let i = 0; i < d.length; i++) if (!Number.isFinite(d[i])) n++;
  return n;
}

function uniqueValues(v: Volume): number[] {
  const d = v.data;
  if (d instanceof Uint8Array) {
    const seen = new Uint8Array(256);
    for (let i = 0; i < d.length; i++) seen[d[i]] = 1;
    const out: number[] = [];
    for (let i = 0; i < 256; i++) if (seen[i]) out.push(i);
    return out;
  }
  const s = new Set<number>();
  let last = NaN;
  for (let i = 0; i < d.length; i++) {
    const x = d[i];
    if (x === last) continue; // runs of equal values are the common case in label maps
    last = x;
    s.add(x);
  }
  return [...s].sort((a, b) => a - b);
}

async function pool<T>(items: T[], n: number, fn: (t: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(n, items.length)) }, worker));
}

/** Check a dataset (see the module comment). Returns a report; with throwOnError, throws one error listing all. */
export async function verifyDatasetIntegrity(dataset: Dataset, opts: IntegrityOptions = {}): Promise<IntegrityReport> {
  const problems: DatasetProblem[] = [...dataset.problems];
  let filesChecked = 0;
  const labelValues = new Set<number>();
  const declared = new Set(dataset.declaredLabelIds());
  const jsonFile = path.join(dataset.dir, 'dataset.json');

  // declared labels must be consecutive integers from 0 (an 'ignore' label may sit above them, as in v2)
  const plain = Object.entries(dataset.labels)
    .filter(([n]) => n !== 'ignore')
    .map(([, i]) => i)
    .sort((a, b) => a - b);
  if (plain[0] !== 0 || plain.some((v, i) => v !== i)) {
    problems.push({
      kind: 'bad_dataset_json',
      file: jsonFile,
      message: `${jsonFile}: labels must be consecutive integers starting at 0 (background), got ${plain.join(', ')}`,
    });
  }

  const checkCase = async (c: DatasetCase, withLabel: boolean): Promise<void> => {
    const where = (f: string): string => `case ${c.id}: ${f}`;
    const loaded = new Map<string, Volume[]>();
    const files = [...c.imageFiles, ...(withLabel && c.labelFile ? [c.labelFile] : [])];
    for (const f of files) {
      if (!fs.existsSync(f)) {
        problems.push({ kind: 'missing_file', caseId: c.id, file: f, message: `${where(f)}: file does not exist` });
        continue;
      }
      filesChecked++;
      try {
        loaded.set(f, (await decodeNifti(await fs.promises.readFile(f), f)).volumes);
      } catch (e) {
        problems.push({ kind: 'unreadable_file', caseId: c.id, file: f, message: `case ${c.id}: ${(e as Error).message}` });
      }
    }
    if (withLabel && !c.labelFile) {
      problems.push({ kind: 'missing_file', caseId: c.id, message: `case ${c.id}: no label file` });
    }
    // channel counts: a 3D reference needs a 3D file, a 4D reference needs enough volumes
    const channelVols: (Volume | undefined)[] = [];
    for (const f of c.imageFiles) {
      const vols = loaded.get(f);
      if (!vols) continue;
      const refs = c.channels.filter((r) => r.file === f);
      const need = refs.some((r) => r.index !== undefined) ? refs.length : 1;
      if (vols.length !== need) {
        problems.push({
          kind: 'channel_count',
          caseId: c.id,
          file: f,
          message: `${where(f)}: has ${vols.length} channel(s) but dataset.json declares ${
            refs.some((r) => r.index !== undefined) ? refs.length : '1 per file'
          } (${dataset.channelNames.join(', ')})`,
        });
      }
    }
    for (const r of c.channels) {
      const vols = loaded.get(r.file);
      channelVols.push(vols ? vols[r.index ?? 0] : undefined);
    }
    // NaN / Inf in image voxels
    c.channels.forEach((r, k) => {
      const v = channelVols[k];
      if (!v) return;
      const n = countNonFinite(v);
      if (n > 0) {
        problems.push({
          kind: 'non_finite',
          caseId: c.id,
          file: r.file,
          message: `${where(r.file)}: ${n} NaN/Inf voxel(s) in channel ${c.channels.indexOf(r)}`,
        });
      }
    });
    // geometry against the first channel
    const ref = channelVols[0];
    const refFile = c.channels[0]?.file;
    const others: { v: Volume; file: string }[] = [];
    c.channels.forEach((r, k) => k > 0 && channelVols[k] && others.push({ v: channelVols[k]!, file: r.file }));
    const label = withLabel && c.labelFile ? loaded.get(c.labelFile) : undefined;
    if (label && label.length !== 1) {
      problems.push({ kind: 'channel_count', caseId: c.id, file: c.labelFile, message: `${where(c.labelFile!)}: a label must be 3D, found ${label.length} volumes` });
    }
    if (label && label.length >= 1) others.push({ v: label[0], file: c.labelFile! });
    if (ref && refFile) {
      for (const o of others) {
        const vs = `${path.basename(o.file)} vs ${path.basename(refFile)}`;
        if (o.v.shape.join() !== ref.shape.join()) {
          problems.push({ kind: 'shape_mismatch', caseId: c.id, file: o.file, message: `${where(o.file)}: shape ${fmt(o.v.shape)} differs from ${fmt(ref.shape)} (${vs}, z,y,x)` });
          continue;
        }
        if (!isClose(o.v.spacing, ref.spacing)) {
          problems.push({ kind: 'spacing_mismatch', caseId: c.id, file: o.file, message: `${where(o.file)}: spacing ${fmt(o.v.spacing)} differs from ${fmt(ref.spacing)} (${vs}, z,y,x)` });
        }
        if (!isClose(o.v.origin, ref.origin)) {
          problems.push({ kind: 'origin_mismatch', caseId: c.id, file: o.file, message: `${where(o.file)}: origin ${fmt(o.v.origin)} differs from ${fmt(ref.origin)} (${vs})` });
        }
        if (!isClose(o.v.direction, ref.direction)) {
          problems.push({ kind: 'direction_mismatch', caseId: c.id, file: o.file, message: `${where(o.file)}: direction ${fmt(o.v.direction)} differs from ${fmt(ref.direction)} (${vs})` });
        }
      }
    }
    // label values
    if (label && label.length >= 1) {
      const vals = uniqueValues(label[0]);
      vals.forEach((v) => labelValues.add(v));
      const bad = vals.filter((v) => !Number.isInteger(v) || !declared.has(v));
      if (bad.length) {
        problems.push({
          kind: 'unexpected_label',
          caseId: c.id,
          file: c.labelFile,
          message: `${where(c.labelFile!)}: label value(s) ${bad.join(', ')} not declared in dataset.json (declared: ${[...declared].join(', ')})`,
        });
      }
    }
  };

  const withTest = opts.checkTestCases ?? true;
  const casesChecked = dataset.cases.length + (withTest ? dataset.testCases.length : 0);
  const bar = opts.progress === false ? undefined : progress(`verify ${dataset.name}`, casesChecked);
  const concurrency = opts.concurrency ?? 2;
  await pool(dataset.cases, concurrency, async (c) => {
    await checkCase(c, true);
    bar?.tick(1, c.id);
  });
  if (withTest) {
    await pool(dataset.testCases, concurrency, async (c) => {
      await checkCase(c, false);
      bar?.tick(1, c.id);
    });
  }
  bar?.done();

  // MSD: files on disk that no dataset.json entry lists (v1 "stragglers")
  if (dataset.layout === 'msd') {
    const listed = new Set<string>();
    for (const c of [...dataset.cases, ...dataset.testCases]) {
      c.imageFiles.forEach((f) => listed.add(path.resolve(f)));
      if (c.labelFile) listed.add(path.resolve(c.labelFile));
    }
    for (const sub of ['imagesTr', 'labelsTr']) {
      const d = path.join(dataset.dir, sub);
      if (!fs.existsSync(d)) continue;
      for (const f of fs.readdirSync(d).sort()) {
        if (f.startsWith('.') || !f.endsWith('.nii.gz')) continue;
        const abs = path.join(d, f);
        if (!listed.has(abs)) {
          problems.push({ kind: 'unlisted_file', file: abs, message: `${abs}: not listed in dataset.json 'training'` });
        }
      }
    }
  }

  // stable order: by case, then kind (workers finish out of order)
  problems.sort((a, b) => (a.caseId ?? '').localeCompare(b.caseId ?? '') || a.kind.localeCompare(b.kind) || (a.file ?? '').localeCompare(b.file ?? ''));
  const report: IntegrityReport = {
    ok: problems.length === 0,
    problems,
    casesChecked,
    filesChecked,
    labelValuesFound: [...labelValues].sort((a, b) => a - b),
    summary(): string {
      const head = `Integrity of ${dataset.name} (${dataset.dir}): ${casesChecked} cases, ${filesChecked} files read, ${
        problems.length === 0 ? 'no problems' : `${problems.length} problem(s)`
      }`;
      return [head, ...problems.map((p) => `  - [${p.kind}] ${p.message}`)].join('\n');
    },
  };
  if (opts.throwOnError && !report.ok) throw new Error(report.summary());
  return report;
}
