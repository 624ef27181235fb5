/**
 * The cases a prediction reads: a folder in v2 / MSD-test layout (`<case>_0000.nii.gz`, or one possibly 4D
 * `<case>.nii.gz`) or volumes in memory, with the channel count and geometry checked per case.
 */
import * as fs from 'fs';
import * as path from 'path';
import { readNifti, readNiftiChannels } from '../io/nifti';
import type { Volume } from '../io/volume';

const CHANNEL_RE = /^(.+)_(\d{4})\.nii(\.gz)?$/;

/** One case given in memory: its image channels (all with the same geometry). */
export interface PredictInputCase {
  id: string;
  images: Volume[];
}

/** One case found in an input folder. */
export interface InputCaseFiles {
  id: string;
  /** one file per channel (`<case>_0000.nii.gz`, ...), or one (possibly 4D) `<case>.nii.gz` */
  files: string[];
}

/**
 * Cases of an input folder (v1 check_input_folder_and_return_caseIDs, plus the MSD test layout): `<case>_XXXX.nii.gz`
 * grouped by case and sorted by channel; any other `<case>.nii.gz` is one case (3D or 4D file).
 */
export function listInputCases(folder: string): InputCaseFiles[] {
  let names: string[];
  try {
    names = fs.readdirSync(folder).filter((n) => !n.startsWith('.') && /\.nii(\.gz)?$/.test(n));
  } catch (e) {
    throw new Error(`${folder}: cannot list the input folder: ${(e as Error).message}`);
  }
  const byCase = new Map<string, string[]>();
  for (const n of names.sort()) {
    const m = CHANNEL_RE.exec(n);
    const id = m ? m[1] : n.replace(/\.nii(\.gz)?$/, '');
    if (!byCase.has(id)) byCase.set(id, []);
    (byCase.get(id) as string[]).push(path.join(folder, n));
  }
  return [...byCase.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([id, files]) => ({ id, files }));
}

function sameGeometry(a: Volume, b: Volume): string | null {
  if (a.shape.join() !== b.shape.join()) return `shape ${b.shape.join('x')} vs ${a.shape.join('x')}`;
  const close = (x: readonly number[], y: readonly number[]) => x.every((v, i) => Math.abs(v - y[i]) <= 1e-4 * Math.max(1, Math.abs(v)));
  if (!close(a.spacing, b.spacing)) return `spacing [${b.spacing}] vs [${a.spacing}]`;
  if (!close(a.origin, b.origin)) return `origin [${b.origin}] vs [${a.origin}]`;
  if (!close(a.direction, b.direction)) return `direction [${b.direction}] vs [${a.direction}]`;
  return null;
}

/** Read a case's channels from its files, checking the channel count and that all channels share one geometry. */
export async function loadInputCase(c: InputCaseFiles, numChannels: number): Promise<Volume[]> {
  const images: Volume[] = [];
  const fileOf: string[] = [];
  for (const f of c.files) {
    let vols: Volume[];
    try {
      vols = await readNiftiChannels(f);
    } catch (e) {
      throw new Error(`${f}: cannot read: ${(e as Error).message}`);
    }
    for (const v of vols) {
      images.push(v);
      fileOf.push(f);
    }
  }
  checkChannels(c.id, images, numChannels, fileOf);
  return images;
}

export function checkChannels(id: string, images: readonly Volume[], numChannels: number, fileOf?: string[]): void {
  const where = (i: number) => (fileOf ? fileOf[i] : `case ${id} channel ${i}`);
  if (images.length !== numChannels) {
    throw new Error(`${fileOf ? fileOf.join(', ') : `case ${id}`}: case ${id} has ${images.length} channel(s), the model expects ${numChannels}`);
  }
  for (let i = 1; i < images.length; i++) {
    const d = sameGeometry(images[0], images[i]);
    if (d) throw new Error(`${where(i)}: case ${id}: geometry differs from channel 0 (${where(0)}): ${d}`);
  }
}

/**
 * `<folder>/<id>.nii.gz`: a cascade's previous-stage segmentation of a case, as predict_simple's `-l` and nnUNetv2's
 * `-prev_stage_predictions` take them, checked against the case's image grid.
 */
export async function readPreviousStageSegmentation(folder: string, id: string, image: Volume): Promise<Volume> {
  const f = path.join(folder, `${id}.nii.gz`);
  if (!fs.existsSync(f)) throw new Error(`${f}: the previous stage's segmentation of case ${id} is missing`);
  const v = await readNifti(f);
  if (v.shape.join() !== image.shape.join()) throw new Error(`${f}: shape ${v.shape.join('x')}, the image of case ${id} has ${image.shape.join('x')}`);
  return v;
}
