/**
 * `import-model`: copy an official model (a v1 `<trainer>__<plans>` folder, one of its fold folders, or a .zip as
 * `nnUNet_export_model_to_zip` distributes it) into nnunet-ts's model store, after loading it completely (plans,
 * every fold's weights with shape checks), so a broken model is refused and nothing is written.
 *
 *   <models>/<name>/model.json                       { format, name, folder, configuration, trainer, plans, folds, source, imported_at }
 *   <models>/<name>/<trainer>__<plans>/...           plans.pkl, postprocessing.json, fold_k/model_*.model(.pkl)
 *   <models>/<name>/previous_stage/<trainer>__<plans>/...   a v1 cascade's 3d_lowres model (manifest: previous_stage)
 *
 * `<models>` defaults to `<nnUNet_results>/imported_models`. `Model.load(name | folder)` reads either.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { unzipSync } from 'fflate';
import { writeJsonAtomicSync } from '../io/atomic';
import { resolveRoots, type RootOptions } from '../paths';
import { ModelImportError } from './v1';

export const MODEL_MANIFEST = 'model.json';
export const MODEL_STORE_FOLDER = 'imported_models';

export interface ModelManifest {
  format: 'nnunet-v1' | 'nnunet-v2';
  name: string;
  /** the model folder, relative to the manifest */
  folder: string;
  configuration: string;
  trainer: string;
  plans: string;
  folds: string[];
  checkpoint: string;
  source: string;
  imported_at: string;
  /** a cascade's 3d_lowres model folder, relative to the manifest (v1 3d_cascade_fullres) */
  previous_stage?: string;
}

/** Where a store entry keeps a cascade's previous-stage model. */
export const PREVIOUS_STAGE_FOLDER = 'previous_stage';

/** Where imported models live: `<nnUNet_results>/imported_models` unless given. */
export function modelStore(opts: RootOptions & { modelsDir?: string } = {}): string {
  return path.resolve(opts.modelsDir ?? path.join(resolveRoots(opts).results, MODEL_STORE_FOLDER));
}

/** A model name in the store, or a folder: the folder to load. */
export function resolveModelDir(nameOrDir: string, store: string): string {
  if (fs.existsSync(nameOrDir) && fs.statSync(nameOrDir).isDirectory()) return path.resolve(nameOrDir);
  if (/^[\w.-]+$/.test(nameOrDir)) {
    const d = path.join(store, nameOrDir);
    if (fs.existsSync(path.join(d, MODEL_MANIFEST))) return d;
  }
  const known = fs.existsSync(store) ? fs.readdirSync(store).filter((n) => fs.existsSync(path.join(store, n, MODEL_MANIFEST))) : [];
  throw new ModelImportError(`${nameOrDir}: neither a model folder nor a model imported into ${store}${known.length ? ` (imported: ${known.join(', ')})` : ' (none imported yet)'}`);
}

/** The model folder a store entry's manifest points at (or the folder itself). */
export function modelFolderOf(dir: string): { folder: string; manifest: ModelManifest | null } {
  const mf = path.join(dir, MODEL_MANIFEST);
  if (!fs.existsSync(mf)) return { folder: dir, manifest: null };
  const m = JSON.parse(fs.readFileSync(mf, 'utf8')) as ModelManifest;
  if ((m.format !== 'nnunet-v1' && m.format !== 'nnunet-v2') || typeof m.folder !== 'string') throw new ModelImportError(`${mf}: not an nnunet-ts model manifest`);
  const folder = path.resolve(dir, m.folder);
  if (!folder.startsWith(path.resolve(dir) + path.sep)) throw new ModelImportError(`${mf}: folder '${m.folder}' leaves the model's folder`);
  return { folder, manifest: m };
}

/** Folders under `root` (depth <= 5) that are v1 model folders: they hold fold_k/<checkpoint>.model.pkl. */
export function findModelFolders(root: string, checkpoint = 'model_final_checkpoint'): string[] {
  const out: string[] = [];
  const isFold = (d: string) => fs.existsSync(path.join(d, `${checkpoint}.model.pkl`));
  const walk = (d: string, depth: number) => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    if (entries.some((e) => e.isDirectory() && /^(fold_\d+|all)$/.test(e.name) && isFold(path.join(d, e.name)))) {
      out.push(d);
      return;
    }
    if (depth >= 5) return;
    for (const e of entries) if (e.isDirectory() && !e.name.startsWith('.')) walk(path.join(d, e.name), depth + 1);
  };
  if (isFold(root)) return [root];
  walk(root, 0);
  return out.sort();
}

/**
 * Folders under `root` (depth <= 5) that are nnU-Net v2 model folders (plans.json + dataset.json +
 * fold_k/<checkpoint>), or `root` itself when it is one fold folder of such a model.
 */
export function findV2ModelFolders(root: string, checkpoint = 'checkpoint_final.pth'): string[] {
  const isModel = (d: string) =>
    fs.existsSync(path.join(d, 'plans.json')) &&
    fs.existsSync(path.join(d, 'dataset.json')) &&
    fs.readdirSync(d).some((f) => /^fold_(\d+|all)$/.test(f) && fs.existsSync(path.join(d, f, checkpoint)));
  if (fs.existsSync(path.join(root, checkpoint)) && isModel(path.dirname(root))) return [root];
  const out: string[] = [];
  const walk = (d: string, depth: number) => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    if (isModel(d)) {
      out.push(d);
      return;
    }
    if (depth >= 5) return;
    for (const e of entries) if (e.isDirectory() && !e.name.startsWith('.')) walk(path.join(d, e.name), depth + 1);
  };
  walk(root, 0);
  return out.sort();
}

/** Unpack a model .zip into a new temporary folder (entries leaving the folder are refused). */
export function unpackModelZip(zipFile: string): string {
  let entries: Record<string, Uint8Array>;
  try {
    entries = unzipSync(fs.readFileSync(zipFile));
  } catch (e) {
    throw new ModelImportError(`${zipFile}: corrupt or truncated zip archive (${(e as Error).message})`);
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nnunet-ts-import-'));
  try {
    for (const [name, data] of Object.entries(entries)) {
      if (name.endsWith('/')) continue;
      const target = path.resolve(dir, name);
      if (!target.startsWith(dir + path.sep) || path.isAbsolute(name)) throw new ModelImportError(`${zipFile}: entry '${name}' points outside the archive`);
      fs.mkdirSync(path.dirname(target), { recursive: true });
      fs.writeFileSync(target, data);
    }
  } catch (e) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  return dir;
}

/** Files of a v1 model folder that prediction needs (relative paths); `folds`: only these fold folders' files. */
export function modelFilesToCopy(folder: string, checkpoint: string, folds?: readonly string[]): string[] {
  const files: string[] = [];
  for (const f of ['plans.pkl', 'postprocessing.json']) if (fs.existsSync(path.join(folder, f))) files.push(f);
  for (const d of fs.readdirSync(folder).sort()) {
    if (!/^(fold_\d+|all)$/.test(d) || (folds && !folds.includes(d))) continue;
    for (const f of [`${checkpoint}.model`, `${checkpoint}.model.pkl`, 'postprocessing.json']) {
      if (fs.existsSync(path.join(folder, d, f))) files.push(path.join(d, f));
    }
  }
  return files;
}

/**
 * Copy into `<store>/<name>` through a temporary sibling folder renamed at the end (all or nothing). `also`: more
 * model folders copied under `<name>/<to>/<their folder name>` (a cascade's previous stage).
 */
export function writeStoreEntry(
  store: string,
  name: string,
  folder: string,
  files: string[],
  manifest: Omit<ModelManifest, 'folder'>,
  overwrite: boolean,
  also: { folder: string; files: string[]; to: string }[] = [],
): string {
  if (!/^[\w.-]+$/.test(name) || name === '.' || name === '..') throw new ModelImportError(`model name '${name}' may only use letters, digits, '_', '-' and '.'`);
  const dest = path.join(store, name);
  if (fs.existsSync(dest) && !overwrite) throw new ModelImportError(`${dest}: a model named '${name}' is already imported (choose another --name or pass --force)`);
  fs.mkdirSync(store, { recursive: true });
  const tmp = fs.mkdtempSync(path.join(store, `.importing-${name}-`));
  try {
    const sub = path.basename(folder);
    for (const { from, to, list } of [{ from: folder, to: sub, list: files }, ...also.map((a) => ({ from: a.folder, to: path.join(a.to, path.basename(a.folder)), list: a.files }))]) {
      for (const f of list) {
        const dest = path.join(tmp, to, f);
        fs.mkdirSync(path.dirname(dest), { recursive: true });
        fs.copyFileSync(path.join(from, f), dest);
      }
    }
    writeJsonAtomicSync(path.join(tmp, MODEL_MANIFEST), { ...manifest, folder: sub });
    if (fs.existsSync(dest)) fs.rmSync(dest, { recursive: true, force: true });
    fs.renameSync(tmp, dest);
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  return dest;
}
