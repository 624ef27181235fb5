/**
 * Raw datasets: the MSD / nnU-Net v1 layout and the nnU-Net v2 layout, read into one typed `Dataset`.
 *
 * MSD (and v1) `dataset.json`: `modality` {"0": "CT"}, `labels` {"0": "background", ...} (id -> name), `training`
 * [{image: "./imagesTr/x.nii.gz", label: "./labelsTr/x.nii.gz"}], `test` ["./imagesTs/y.nii.gz"]. An MSD image with
 * several modalities is one 4D file (channel = 4th dimension); after nnU-Net v1's conversion (`Task0XX_Name`) the
 * same entry names per-channel files `x_0000.nii.gz`, `x_0001.nii.gz`, ... which are used when present.
 * v2 `dataset.json`: `channel_names` {"0": "CT"}, `labels` {"background": 0, ...} (name -> id, or name -> [ids] for
 * regions), `numTraining`, `file_ending`; cases are discovered from `imagesTr/<case>_XXXX<file_ending>` and
 * `labelsTr/<case><file_ending>` (nnunetv2 get_identifiers_from_splitted_dataset_folder).
 *
 * Loading never reads voxels: `DatasetCase.loadImage()` / `loadLabel()` read lazily. Problems found while parsing
 * (entries pointing outside the folder, duplicate ids, ...) are kept in `Dataset.problems` for verifyDatasetIntegrity
 * instead of throwing, so one run reports all of them. macOS `._*` resource files and other dot-files are ignored.
 */
import * as fs from 'fs';
import * as path from 'path';
import { readJsonSync, writeFileAtomic, writeJsonAtomic } from './atomic';
import { decodeNifti, readNiftiChannels, readNifti, writeNifti, niftiBaseName } from './nifti';
import type { Volume } from './volume';

export type DatasetLayout = 'msd' | 'v2';

/** One problem found in a dataset (by loadDataset while parsing, or by verifyDatasetIntegrity). */
export interface DatasetProblem {
  kind:
    | 'missing_file'
    | 'unreadable_file'
    | 'shape_mismatch'
    | 'spacing_mismatch'
    | 'origin_mismatch'
    | 'direction_mismatch'
    | 'unexpected_label'
    | 'non_finite'
    | 'duplicate_case'
    | 'unsafe_path'
    | 'channel_count'
    | 'bad_dataset_json'
    | 'num_training_mismatch'
    | 'unlisted_file';
  caseId?: string;
  file?: string;
  message: string;
}

/** Where one image channel comes from: a 3D file, or volume `index` of a 4D file. */
export interface ChannelRef {
  file: string;
  /** index along the 4th dimension of a 4D MSD file; undefined for a 3D file */
  index?: number;
}

export interface DatasetCase {
  id: string;
  /** distinct image files of the case (one per channel, or a single 4D MSD file) */
  imageFiles: string[];
  /** one entry per channel, in channel order */
  channels: ChannelRef[];
  labelFile?: string;
  /** all channels as Volumes (z, y, x), read now */
  loadImage(): Promise<Volume[]>;
  /** the label map, read now; throws if the case has no label */
  loadLabel(): Promise<Volume>;
}

export interface LoadDatasetOptions {
  /** for the v2 layout, where to look for test images (default imagesTs) */
  testFolder?: string;
}

const HIDDEN = (name: string): boolean => name.startsWith('.');

function listFiles(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isFile() && !HIDDEN(e.name))
    .map((e) => e.name)
    .sort();
}

/** Resolve a dataset.json path safely: relative, no '..', inside `root`. Returns null when unsafe. */
export function resolveInside(root: string, rel: string): string | null {
  if (typeof rel !== 'string' || rel.length === 0) return null;
  if (path.isAbsolute(rel) || path.win32.isAbsolute(rel) || rel.includes('\0')) return null;
  const parts = rel.split(/[\\/]+/);
  if (parts.includes('..')) return null;
  const abs = path.resolve(root, rel);
  const r = path.relative(root, abs);
  if (r.startsWith('..') || path.isAbsolute(r)) return null;
  return abs;
}

function makeCase(id: string, channels: ChannelRef[], labelFile: string | undefined): DatasetCase {
  const imageFiles = [...new Set(channels.map((c) => c.file))];
  return {
    id,
    imageFiles,
    channels,
    labelFile,
    async loadImage(): Promise<Volume[]> {
      const byFile = new Map<string, Volume[]>();
      for (const f of imageFiles) byFile.set(f, await readNiftiChannels(f));
      return channels.map((c) => {
        const vols = byFile.get(c.file)!;
        if (c.index === undefined) {
          if (vols.length !== 1) throw new Error(`${c.file}: case ${id}: expected a 3D image, found ${vols.length} channels`);
          return vols[0];
        }
        if (c.index >= vols.length) {
          throw new Error(`${c.file}: case ${id}: channel ${c.index} requested but the 4D image has ${vols.length}`);
        }
        return vols[c.index];
      });
    },
    async loadLabel(): Promise<Volume> {
      if (!labelFile) throw new Error(`case ${id} has no label file`);
      return readNifti(labelFile);
    },
  };
}

/** A raw dataset (see the module comment). Construct with loadDataset. */
export class Dataset {
  constructor(
    /** dataset.json `name` (or the folder name) */
    readonly name: string,
    /** absolute folder */
    readonly dir: string,
    readonly layout: DatasetLayout,
    /** channel names in channel order, e.g. ['CT'] */
    readonly channelNames: string[],
    /** label name -> id (background included) */
    readonly labels: Record<string, number>,
    /** label id -> name */
    readonly labelNames: Record<number, string>,
    /** region-based labels (v2: a name mapped to a list of ids), empty otherwise */
    readonly regions: Record<string, number[]>,
    /** labels including background (regions count once each) */
    readonly numClasses: number,
    readonly fileEnding: string,
    /** training cases sorted by id */
    readonly cases: DatasetCase[],
    /** test cases (no labels) sorted by id */
    readonly testCases: DatasetCase[],
    /** the parsed dataset.json */
    readonly json: Record<string, unknown>,
    /** problems found while parsing (verifyDatasetIntegrity reports them with the rest) */
    readonly problems: DatasetProblem[],
  ) {}

  get numChannels(): number {
    return this.channelNames.length;
  }

  /** the training case with this id */
  case(id: string): DatasetCase {
    const c = this.cases.find((x) => x.id === id);
    if (!c) throw new Error(`${this.dir}: no training case '${id}'`);
    return c;
  }

  /** The label ids declared in dataset.json (sorted), region members included. */
  declaredLabelIds(): number[] {
    const s = new Set<number>(Object.values(this.labels));
    for (const ids of Object.values(this.regions)) ids.forEach((i) => s.add(i));
    return [...s].sort((a, b) => a - b);
  }

  summary(): string {
    const ids = this.cases.map((c) => c.id);
    const shown = ids.length > 6 ? [...ids.slice(0, 3), '...', ...ids.slice(-2)] : ids;
    const labelText = Object.entries(this.labels)
      .sort((a, b) => a[1] - b[1])
      .map(([n, i]) => `${i} ${n}`)
      .concat(Object.entries(this.regions).map(([n, r]) => `${n} = [${r.join(', ')}]`))
      .join(', ');
    return [
      `Dataset ${this.name} (${this.layout === 'msd' ? 'MSD/v1' : 'v2'} layout) at ${this.dir}`,
      `  channels: ${this.channelNames.map((n, i) => `${i} ${n}`).join(', ')}`,
      `  labels: ${labelText} (${this.numClasses} classes incl. background)`,
      `  training cases: ${this.cases.length} (${shown.join(', ')})`,
      `  test cases: ${this.testCases.length}`,
      `  file ending: ${this.fileEnding}`,
      ...(this.problems.length ? [`  problems found while reading dataset.json: ${this.problems.length}`] : []),
    ].join('\n');
  }

  toString(): string {
    return this.summary();
  }
}

function sortedIndexed(obj: Record<string, unknown>, file: string, what: string): [number, unknown][] {
  const out: [number, unknown][] = [];
  for (const [k, v] of Object.entries(obj)) {
    const i = Number(k);
    if (!Number.isInteger(i) || i < 0) throw new Error(`${file}: ${what} key '${k}' is not a non-negative integer`);
    out.push([i, v]);
  }
  return out.sort((a, b) => a[0] - b[0]);
}

function channelNamesFrom(obj: unknown, file: string, key: string): string[] {
  if (!obj || typeof obj !== 'object' || Array.isArray(obj)) throw new Error(`${file}: '${key}' must be an object like {"0": "CT"}`);
  const entries = sortedIndexed(obj as Record<string, unknown>, file, key);
  entries.forEach(([i], k) => {
    if (i !== k) throw new Error(`${file}: '${key}' keys must be 0..${entries.length - 1}, got ${entries.map((e) => e[0]).join(', ')}`);
  });
  return entries.map(([, v]) => String(v));
}

/** Read a dataset folder in the MSD/v1 or v2 layout. Throws only if dataset.json itself is unusable. */
export function loadDataset(dir: string, opts: LoadDatasetOptions = {}): Dataset {
  const root = path.resolve(dir);
  if (!fs.existsSync(root) || !fs.statSync(root).isDirectory()) throw new Error(`${root}: dataset folder does not exist`);
  const jsonFile = path.join(root, 'dataset.json');
  if (!fs.existsSync(jsonFile)) throw new Error(`${jsonFile}: dataset.json is missing`);
  const json = readJsonSync<Record<string, unknown>>(jsonFile);
  if (!json || typeof json !== 'object' || Array.isArray(json)) throw new Error(`${jsonFile}: must be a JSON object`);
  const problems: DatasetProblem[] = [];
  const name = typeof json.name === 'string' ? json.name : path.basename(root);

  if ('channel_names' in json || 'file_ending' in json) return loadV2(root, jsonFile, json, name, problems, opts);
  if ('modality' in json) return loadMsd(root, jsonFile, json, name, problems);
  throw new Error(`${jsonFile}: neither an MSD/v1 dataset.json ('modality', 'training') nor a v2 one ('channel_names', 'file_ending')`);
}

function loadMsd(root: string, jsonFile: string, json: Record<string, unknown>, name: string, problems: DatasetProblem[]): Dataset {
  const channelNames = channelNamesFrom(json.modality, jsonFile, 'modality');
  if (!json.labels || typeof json.labels !== 'object') throw new Error(`${jsonFile}: 'labels' must be an object like {"0": "background"}`);
  const labelNames: Record<number, string> = {};
  const labels: Record<string, number> = {};
  for (const [i, n] of sortedIndexed(json.labels as Record<string, unknown>, jsonFile, 'labels')) {
    labelNames[i] = String(n);
    labels[String(n)] = i;
  }
  if (!Array.isArray(json.training)) throw new Error(`${jsonFile}: 'training' must be a list of {image, label}`);
  const fileEnding = '.nii.gz';
  const nch = channelNames.length;

  const channelRefs = (imageAbs: string): ChannelRef[] => {
    // v1 converted layout: x.nii.gz listed, x_0000.nii.gz ... on disk
    const base = imageAbs.endsWith('.nii.gz') ? imageAbs.slice(0, -7) : imageAbs.replace(/\.nii$/, '');
    const split = Array.from({ length: nch }, (_, c) => `${base}_${String(c).padStart(4, '0')}.nii.gz`);
    if (!fs.existsSync(imageAbs) && fs.existsSync(split[0])) return split.map((file) => ({ file }));
    if (nch === 1) return [{ file: imageAbs }];
    return Array.from({ length: nch }, (_, index) => ({ file: imageAbs, index }));
  };

  const cases: DatasetCase[] = [];
  json.training.forEach((entry: unknown, k: number) => {
    const e = entry as { image?: unknown; label?: unknown };
    if (!e || typeof e !== 'object' || typeof e.image !== 'string' || typeof e.label !== 'string') {
      problems.push({ kind: 'bad_dataset_json', file: jsonFile, message: `${jsonFile}: training[${k}] must be {"image": "...", "label": "..."}` });
      return;
    }
    if (HIDDEN(path.basename(e.image))) return; // macOS resource-fork entries
    const img = resolveInside(root, e.image);
    const lab = resolveInside(root, e.label);
    const id = niftiBaseName(e.image);
    if (!img || !lab) {
      const bad = !img ? e.image : e.label;
      problems.push({
        kind: 'unsafe_path',
        caseId: id,
        file: jsonFile,
        message: `${jsonFile}: training[${k}] (case ${id}) points outside the dataset folder: '${bad}' (absolute paths and '..' are refused)`,
      });
      return;
    }
    cases.push(makeCase(id, channelRefs(img), lab));
  });

  const testCases: DatasetCase[] = [];
  const test = Array.isArray(json.test) ? json.test : [];
  test.forEach((t: unknown, k: number) => {
    const rel = typeof t === 'string' ? t : t && typeof t === 'object' ? (t as { image?: unknown }).image : undefined;
    if (typeof rel !== 'string') {
      problems.push({ kind: 'bad_dataset_json', file: jsonFile, message: `${jsonFile}: test[${k}] must be a path string` });
      return;
    }
    if (HIDDEN(path.basename(rel))) return;
    const abs = resolveInside(root, rel);
    const id = niftiBaseName(rel);
    if (!abs) {
      problems.push({
        kind: 'unsafe_path',
        caseId: id,
        file: jsonFile,
        message: `${jsonFile}: test[${k}] (case ${id}) points outside the dataset folder: '${rel}' (absolute paths and '..' are refused)`,
      });
      return;
    }
    testCases.push(makeCase(id, channelRefs(abs), undefined));
  });

  addDuplicateProblems(cases, 'training', jsonFile, problems);
  addDuplicateProblems(testCases, 'test', jsonFile, problems);
  const byId = (a: DatasetCase, b: DatasetCase): number => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
  cases.sort(byId);
  testCases.sort(byId);
  return new Dataset(name, root, 'msd', channelNames, labels, labelNames, {}, Object.keys(labels).length, fileEnding, cases, testCases, json, problems);
}

function addDuplicateProblems(cases: DatasetCase[], what: string, file: string, problems: DatasetProblem[]): void {
  const seen = new Map<string, number>();
  for (const c of cases) seen.set(c.id, (seen.get(c.id) ?? 0) + 1);
  for (const [id, n] of seen) {
    if (n > 1) problems.push({ kind: 'duplicate_case', caseId: id, file, message: `${file}: ${what} case id '${id}' is listed ${n} times` });
  }
}

function loadV2(
  root: string,
  jsonFile: string,
  json: Record<string, unknown>,
  name: string,
  problems: DatasetProblem[],
  opts: LoadDatasetOptions,
): Dataset {
  const channelNames = channelNamesFrom(json.channel_names ?? json.modality, jsonFile, 'channel_names');
  const fileEnding = json.file_ending;
  if (typeof fileEnding !== 'string' || !fileEnding.startsWith('.')) throw new Error(`${jsonFile}: 'file_ending' must be a string like ".nii.gz"`);
  if (fileEnding !== '.nii.gz' && fileEnding !== '.nii') {
    throw new Error(`${jsonFile}: file_ending '${fileEnding}' is not supported (only NIfTI: .nii.gz, .nii)`);
  }
  if (!json.labels || typeof json.labels !== 'object' || Array.isArray(json.labels)) {
    throw new Error(`${jsonFile}: 'labels' must be an object like {"background": 0}`);
  }
  const labels: Record<string, number> = {};
  const labelNames: Record<number, string> = {};
  const regions: Record<string, number[]> = {};
  for (const [n, v] of Object.entries(json.labels as Record<string, unknown>)) {
    if (Array.isArray(v) && v.every((x) => Number.isInteger(x))) {
      if (v.length === 1) {
        labels[n] = v[0] as number;
        labelNames[v[0] as number] = n;
      } else regions[n] = v as number[];
    } else if (Number.isInteger(v)) {
      labels[n] = v as number;
      labelNames[v as number] = n;
    } else throw new Error(`${jsonFile}: label '${n}' must map to an integer (or a list of integers for a region), got ${JSON.stringify(v)}`);
  }
  const nch = channelNames.length;

  const discover = (folder: string, withLabels: boolean): DatasetCase[] => {
    const dirAbs = path.join(root, folder);
    const files = listFiles(dirAbs).filter((f) => f.endsWith(fileEnding));
    const re = /_(\d{4})$/;
    const ids = new Map<string, Set<number>>();
    for (const f of files) {
      const stem = f.slice(0, -fileEnding.length);
      const m = re.exec(stem);
      if (!m) {
        problems.push({
          kind: 'channel_count',
          file: path.join(dirAbs, f),
          message: `${path.join(dirAbs, f)}: image file name lacks the _XXXX channel suffix (expected <case>_0000${fileEnding})`,
        });
        continue;
      }
      const id = stem.slice(0, -5);
      if (!ids.has(id)) ids.set(id, new Set());
      ids.get(id)!.add(Number(m[1]));
    }
    const out: DatasetCase[] = [];
    for (const id of [...ids.keys()].sort()) {
      const present = ids.get(id)!;
      const extra = [...present].filter((c) => c >= nch).sort((a, b) => a - b);
      if (extra.length) {
        problems.push({
          kind: 'channel_count',
          caseId: id,
          file: path.join(dirAbs, `${id}_${String(extra[0]).padStart(4, '0')}${fileEnding}`),
          message: `${folder}/${id}: has channel file(s) ${extra.map((c) => `_${String(c).padStart(4, '0')}`).join(', ')} but dataset.json declares ${nch} channel(s)`,
        });
      }
      const channels = Array.from({ length: nch }, (_, c) => ({ file: path.join(dirAbs, `${id}_${String(c).padStart(4, '0')}${fileEnding}`) }));
      out.push(makeCase(id, channels, withLabels ? path.join(root, 'labelsTr', `${id}${fileEnding}`) : undefined));
    }
    return out;
  };
  const cases = discover('imagesTr', true);
  const testCases = discover(opts.testFolder ?? 'imagesTs', false);
  const numTraining = json.numTraining;
  if (numTraining !== undefined && numTraining !== cases.length) {
    problems.push({
      kind: 'num_training_mismatch',
      file: jsonFile,
      message: `${jsonFile}: numTraining is ${JSON.stringify(numTraining)} but imagesTr holds ${cases.length} case(s)`,
    });
  }
  const numClasses = Object.keys(labels).length + Object.keys(regions).length;
  return new Dataset(name, root, 'v2', channelNames, labels, labelNames, regions, numClasses, fileEnding, cases, testCases, json, problems);
}

// ---------------------------------------------------------------------------------------------------------------
// MSD -> v2 conversion

export interface ConvertMsdOptions {
  /** target dataset id (default: the number of the MSD folder name TaskXX_Name) */
  datasetId?: number;
  /** files converted concurrently (default 8) */
  concurrency?: number;
}

export interface ConvertMsdResult {
  /** the created Dataset<id>_<Name> folder */
  dir: string;
  datasetJson: Record<string, unknown>;
}

/**
 * Convert an MSD task folder (`TaskXX_Name` with imagesTr, labelsTr, [imagesTs], dataset.json) into a v2 dataset
 * `<outDir>/DatasetXXX_Name`, like nnunetv2 `convert_msd_dataset`: 3D images are copied to `<case>_0000.nii.gz`,
 * 4D images are split into `<case>_XXXX.nii.gz` (one per channel, geometry of the first three dimensions), labels
 * are copied, and dataset.json gets labels inverted to name -> id, `file_ending` ".nii.gz", `modality` renamed to
 * `channel_names`, and `training` / `test` removed. Files starting with '.' or '_' are skipped (as the official
 * converter does). Every file is written atomically; the source folder is only read.
 * Deviation: a missing imagesTs folder is treated as empty (the official converter asserts it exists).
 */
export async function convertMsdToV2(msdDir: string, outDir: string, opts: ConvertMsdOptions = {}): Promise<ConvertMsdResult> {
  const src = path.resolve(msdDir);
  const folder = path.basename(src);
  const parts = folder.split('_');
  if (parts.length !== 2 || !/^Task\d+$/.test(parts[0])) {
    throw new Error(`${src}: MSD folder name must look like TaskXX_Name (got '${folder}')`);
  }
  const taskId = Number(parts[0].slice(4));
  const targetId = opts.datasetId ?? taskId;
  if (!Number.isInteger(targetId) || targetId < 0 || targetId > 999) throw new Error(`convertMsdToV2: datasetId must be 0..999, got ${targetId}`);
  for (const sub of ['imagesTr', 'labelsTr']) {
    if (!fs.existsSync(path.join(src, sub))) throw new Error(`${path.join(src, sub)}: ${sub} subfolder missing in the MSD folder`);
  }
  const jsonFile = path.join(src, 'dataset.json');
  if (!fs.existsSync(jsonFile)) throw new Error(`${jsonFile}: dataset.json missing in the MSD folder`);
  const srcJson = readJsonSync<Record<string, unknown>>(jsonFile);
  if (!srcJson.labels || typeof srcJson.labels !== 'object') throw new Error(`${jsonFile}: 'labels' missing`);
  if (!srcJson.modality) throw new Error(`${jsonFile}: 'modality' missing (is this already a v2 dataset.json?)`);

  const target = path.join(path.resolve(outDir), `Dataset${String(targetId).padStart(3, '0')}_${parts[1]}`);
  if (fs.existsSync(path.join(target, 'dataset.json'))) throw new Error(`${target}: target dataset already exists`);
  const tImagesTr = path.join(target, 'imagesTr');
  const tImagesTs = path.join(target, 'imagesTs');
  const tLabelsTr = path.join(target, 'labelsTr');
  for (const d of [tImagesTr, tImagesTs, tLabelsTr]) fs.mkdirSync(d, { recursive: true });

  const niftiFiles = (dir: string): string[] =>
    listFiles(dir).filter((f) => f.endsWith('.nii.gz') && !f.startsWith('.') && !f.startsWith('_'));

  const split = async (file: string, outFolder: string): Promise<void> => {
    const base = path.basename(file).slice(0, -7);
    const bytes = await fs.promises.readFile(file);
    const vols = (await decodeNifti(bytes, file)).volumes;
    // a 3D file is copied byte for byte (split_4d_nifti uses shutil.copy)
    if (vols.length === 1) {
      await writeFileAtomic(path.join(outFolder, `${base}_0000.nii.gz`), bytes);
      return;
    }
    for (let c = 0; c < vols.length; c++) {
      await writeNifti(path.join(outFolder, `${base}_${String(c).padStart(4, '0')}.nii.gz`), vols[c]);
    }
  };
  const jobs: (() => Promise<void>)[] = [
    ...niftiFiles(path.join(src, 'imagesTr')).map((f) => () => split(path.join(src, 'imagesTr', f), tImagesTr)),
    ...niftiFiles(path.join(src, 'imagesTs')).map((f) => () => split(path.join(src, 'imagesTs', f), tImagesTs)),
    ...niftiFiles(path.join(src, 'labelsTr')).map(
      (f) => async () => writeFileAtomic(path.join(tLabelsTr, f), await fs.promises.readFile(path.join(src, 'labelsTr', f))),
    ),
  ];
  // a few files in flight at once: the fsync of each atomic write dominates for small files
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < jobs.length) await jobs[next++]();
  };
  await Promise.all(Array.from({ length: Math.min(opts.concurrency ?? 8, jobs.length) }, worker));

  // dataset.json: same key order as the official converter (labels replaced in place, then file_ending, channel_names)
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(srcJson)) {
    if (k === 'modality' || k === 'training' || k === 'test') continue;
    if (k === 'labels') {
      const inv: Record<string, number> = {};
      for (const [id, n] of Object.entries(v as Record<string, string>)) inv[n] = Number(id);
      out.labels = inv;
    } else out[k] = v;
  }
  out.file_ending = '.nii.gz';
  out.channel_names = srcJson.modality;
  await writeJsonAtomic(path.join(target, 'dataset.json'), out);
  return { dir: target, datasetJson: out };
}
