/**
 * Atomic artifact writes: write to a temp file in the same folder, fsync, rename over the target.
 * A crash at any moment leaves either the old file or the new one, never a torn one.
 */
import * as fs from 'fs';
import * as path from 'path';

let counter = 0;

export function writeFileAtomicSync(file: string, data: string | Uint8Array): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}-${Date.now()}-${counter++}`;
  const fd = fs.openSync(tmp, 'w');
  try {
    fs.writeSync(fd, typeof data === 'string' ? Buffer.from(data, 'utf8') : data);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  try {
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
}

export async function writeFileAtomic(file: string, data: string | Uint8Array): Promise<void> {
  await fs.promises.mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}-${Date.now()}-${counter++}`;
  const fh = await fs.promises.open(tmp, 'w');
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await fs.promises.rename(tmp, file);
  } catch (e) {
    await fs.promises.rm(tmp, { force: true });
    throw e;
  }
}

/**
 * writeFileAtomic, unless the file already holds exactly these bytes: its timestamp then stays, so what is keyed on
 * it (a later step's "newer than its inputs" check) stays valid when a recomputation changed nothing.
 */
export async function writeFileAtomicIfChanged(file: string, data: string): Promise<boolean> {
  try {
    if ((await fs.promises.readFile(file, 'utf8')) === data) return false;
  } catch {
    /* absent or unreadable: write it */
  }
  await writeFileAtomic(file, data);
  return true;
}

/** writeJsonAtomic, unless the file already holds the same JSON value (formatting aside): its timestamp then stays. */
export async function writeJsonAtomicIfChanged(file: string, value: unknown): Promise<boolean> {
  try {
    if (JSON.stringify(JSON.parse(await fs.promises.readFile(file, 'utf8'))) === JSON.stringify(value)) return false;
  } catch {
    /* absent or unreadable: write it */
  }
  await writeJsonAtomic(file, value);
  return true;
}

/** JSON artifacts are written with 2-space indentation (as nnU-Net's save_json does, sort_keys off). */
export function writeJsonAtomicSync(file: string, value: unknown): void {
  writeFileAtomicSync(file, JSON.stringify(value, null, 2) + '\n');
}

export async function writeJsonAtomic(file: string, value: unknown): Promise<void> {
  await writeFileAtomic(file, JSON.stringify(value, null, 2) + '\n');
}

/** Read a JSON file, naming the file in any error. */
export function readJsonSync<T = unknown>(file: string): T {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new Error(`${file}: cannot read: ${(e as Error).message}`);
  }
  try {
    return JSON.parse(text) as T;
  } catch (e) {
    throw new Error(`${file}: invalid JSON: ${(e as Error).message}`);
  }
}
