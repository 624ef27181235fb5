/**
 * Download a Medical Segmentation Decathlon task (default: Task06_Lung from the public AWS mirror MONAI uses), verify
 * its MD5, extract it safely and optionally convert it to the nnU-Net v2 layout.
 *
 *   ts-node data-scripts/download_msd.ts --task Task06_Lung --out DIR [--url U] [--md5 M|none] [--v2] [--v2-out DIR]
 *                                        [--delete-archive] [--retries N]
 *
 * - Streams to `<out>/<task>.tar.part` with a progress bar, resumes after a dropped connection or a restart with an
 *   HTTP Range request (206 appends; a server that answers 200 restarts from 0), follows redirects.
 * - Verifies the MD5 of the whole archive before anything is extracted; a mismatch deletes the .part (the next run
 *   starts over) and fails naming the URL and both sums. Only then is the .part renamed to `<task>.tar`.
 * - Extracts with data-scripts/tar.ts (no path escapes, no links out, skips `._*`; gzip detected by magic bytes)
 *   into `<out>/<task>/`, through a staging folder, so a failed extraction leaves no tree.
 * - `--v2` converts the MSD folder with sdk/io/dataset.ts `convertMsdToV2` into `<v2-out or out>/DatasetXXX_Name`.
 * - Idempotent: a task folder with a matching `.msd_download.json` stamp is not downloaded again.
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as http from 'http';
import * as https from 'https';
import * as path from 'path';
import { writeJsonAtomic } from '../sdk/io/atomic';
import { convertMsdToV2 } from '../sdk/io/dataset';
import { progress } from '../sdk/util/progress';
import { extractTar } from './tar';

/**
 * Public AWS mirror of the MSD tars and their MD5 sums, as published in MONAI's DecathlonDataset
 * (Project-MONAI/MONAI monai/apps/datasets.py, `resource` and `md5`, e.g. commit 01eebcf3).
 */
export const MSD_MIRROR = 'https://msd-for-monai.s3-us-west-2.amazonaws.com';
export const MSD_MD5: Readonly<Record<string, string>> = {
  Task01_BrainTumour: '240a19d752f0d9e9101544901065d872',
  Task02_Heart: '06ee59366e1e5124267b774dbd654057',
  Task03_Liver: 'a90ec6c4aa7f6a3d087205e23d4e6397',
  Task04_Hippocampus: '9d24dba78a72977dbd1d2e110310f31b',
  Task05_Prostate: '35138f08b1efaef89d7424d2bcc928db',
  Task06_Lung: '8afd997733c7fc0432f71255ba4e52dc',
  Task07_Pancreas: '4f7080cfca169fa8066d17ce6eb061e4',
  Task08_HepaticVessel: '641d79e80ec66453921d997fbf12a29c',
  Task09_Spleen: '410d4a301da4e5b2f6f86ec3ddba524e',
  Task10_Colon: 'bad7a188931dc2f6acf72b08eb6202d0',
};

export function msdDefaultUrl(task: string): string {
  return `${MSD_MIRROR}/${task}.tar`;
}

export interface DownloadFileOptions {
  /** expected MD5 (hex); undefined/null = not verified */
  md5?: string | null;
  /** attempts after a dropped connection (default 5) */
  retries?: number;
  /** progress-bar label */
  label?: string;
  /** per-request socket inactivity timeout in ms (default 60 s) */
  timeoutMs?: number;
  /** wait between attempts in ms (default 1000, doubled each time up to 30 s) */
  retryDelayMs?: number;
}

export interface DownloadFileResult {
  file: string;
  bytes: number;
  md5: string;
  /** number of HTTP requests made (1 = no resume needed) */
  requests: number;
  /** requests that resumed with a Range header and got 206 */
  resumed: number;
}

/** MD5 of a file, streamed. */
export async function md5File(file: string): Promise<string> {
  const h = crypto.createHash('md5');
  for await (const chunk of fs.createReadStream(file, { highWaterMark: 1 << 20 })) h.update(chunk as Buffer);
  return h.digest('hex');
}

interface Response {
  res: http.IncomingMessage;
  url: string;
}

function request(url: string, headers: Record<string, string>, timeoutMs: number, redirects = 0): Promise<Response> {
  return new Promise((resolve, reject) => {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      reject(new Error(`invalid URL '${url}'`));
      return;
    }
    const mod = u.protocol === 'https:' ? https : u.protocol === 'http:' ? http : null;
    if (!mod) {
      reject(new Error(`unsupported URL scheme in '${url}' (http or https only)`));
      return;
    }
    const req = mod.get(u, { headers: { 'User-Agent': 'nnunet-ts/download_msd', ...headers } }, (res) => {
      const code = res.statusCode ?? 0;
      if ([301, 302, 303, 307, 308].includes(code) && res.headers.location) {
        res.resume();
        if (redirects >= 5) {
          reject(new Error(`${url}: too many redirects`));
          return;
        }
        resolve(request(new URL(res.headers.location, u).toString(), headers, timeoutMs, redirects + 1));
        return;
      }
      resolve({ res, url });
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`${url}: no data for ${timeoutMs / 1000} s`)));
    req.on('error', reject);
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * Download `url` to `dest` (through `dest.part`, resuming it with Range requests), verify the MD5, rename into place.
 * If `dest` already exists with the expected MD5 nothing is fetched.
 */
export async function downloadFile(url: string, dest: string, opts: DownloadFileOptions = {}): Promise<DownloadFileResult> {
  const expected = opts.md5 ? opts.md5.toLowerCase() : null;
  if (expected !== null && !/^[0-9a-f]{32}$/.test(expected)) throw new Error(`downloadFile: '${opts.md5}' is not an MD5 (32 hex digits)`);
  fs.mkdirSync(path.dirname(dest), { recursive: true });
  if (fs.existsSync(dest) && expected) {
    const have = await md5File(dest);
    if (have === expected) return { file: dest, bytes: fs.statSync(dest).size, md5: have, requests: 0, resumed: 0 };
  }
  const part = `${dest}.part`;
  const retries = opts.retries ?? 5;
  const timeoutMs = opts.timeoutMs ?? 60_000;
  let delay = opts.retryDelayMs ?? 1000;
  let requests = 0;
  let resumed = 0;
  let total: number | null = null;
  let lastError: Error | null = null;
  const bar = progress(opts.label ?? `download ${path.basename(dest)}`, 100); // percent: the size is known only later
  let complete = false;
  for (let attempt = 0; attempt <= retries && !complete; attempt++) {
    if (attempt > 0) {
      await sleep(delay);
      delay = Math.min(delay * 2, 30_000);
    }
    const have = fs.existsSync(part) ? fs.statSync(part).size : 0;
    if (total !== null && have === total) {
      complete = true;
      break;
    }
    requests++;
    let resp: Response;
    try {
      resp = await request(url, have > 0 ? { Range: `bytes=${have}-` } : {}, timeoutMs);
    } catch (e) {
      lastError = e as Error;
      continue;
    }
    const { res } = resp;
    const code = res.statusCode ?? 0;
    let start: number;
    if (code === 206) {
      const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(String(res.headers['content-range'] ?? ''));
      if (!m || Number(m[1]) !== have) {
        res.resume();
        fs.rmSync(part, { force: true }); // the server resumed somewhere else: start over
        lastError = new Error(`${url}: unexpected Content-Range '${res.headers['content-range']}' for a resume at byte ${have}`);
        continue;
      }
      if (m[3] !== '*') total = Number(m[3]);
      start = have;
      resumed++;
    } else if (code === 200) {
      start = 0; // no Range support (or a fresh start): overwrite
      const len = Number(res.headers['content-length']);
      total = Number.isFinite(len) && res.headers['content-length'] !== undefined ? len : null;
    } else if (code === 416 && have > 0) {
      res.resume();
      // the .part is already as long as the file (or longer, if the file changed): verify below or start over
      const m = /^bytes \*\/(\d+)$/.exec(String(res.headers['content-range'] ?? ''));
      if (m && Number(m[1]) === have) {
        total = have;
        complete = true;
      } else {
        fs.rmSync(part, { force: true });
        lastError = new Error(`${url}: range not satisfiable for a .part of ${have} bytes`);
      }
      continue;
    } else {
      res.resume();
      const err = new Error(`${url}: HTTP ${code} ${res.statusMessage ?? ''}`.trim());
      if (code >= 500) {
        lastError = err; // server trouble: worth another try
        continue;
      }
      throw err;
    }
    // write the body, appending after `start`
    const fd = fs.openSync(part, start === 0 ? 'w' : 'r+');
    let pos = start;
    try {
      await new Promise<void>((resolve, reject) => {
        res.on('data', (chunk: Buffer) => {
          try {
            fs.writeSync(fd, chunk, 0, chunk.length, pos);
          } catch (e) {
            res.destroy(e as Error);
            return;
          }
          pos += chunk.length;
          if (total) {
            bar.update(Math.round((100 * pos) / total), `${(pos / 1e6).toFixed(1)}/${(total / 1e6).toFixed(1)} MB`);
          }
        });
        res.on('aborted', () => reject(new Error(`${url}: connection dropped at byte ${pos}`)));
        res.on('error', (e) => reject(new Error(`${url}: ${e.message} at byte ${pos}`)));
        res.on('end', () => resolve());
        res.on('close', () => {
          if (!res.complete) reject(new Error(`${url}: connection closed at byte ${pos}`));
        });
      });
      fs.fsyncSync(fd);
    } catch (e) {
      lastError = e as Error;
      continue;
    } finally {
      fs.closeSync(fd);
    }
    if (total !== null && pos < total) {
      lastError = new Error(`${url}: got ${pos} of ${total} bytes`);
      continue;
    }
    fs.truncateSync(part, pos); // a shorter 200 body after an earlier longer .part
    total = pos;
    complete = true;
  }
  if (!complete) {
    bar.done('failed');
    throw new Error(`${url}: download failed after ${requests} request(s); the partial file ${part} is kept for a resume: ${lastError?.message ?? 'unknown error'}`);
  }
  const got = await md5File(part);
  if (expected && got !== expected) {
    fs.rmSync(part, { force: true });
    bar.done('MD5 mismatch');
    throw new Error(`${url}: MD5 mismatch: expected ${expected}, got ${got}; the download was deleted, nothing was extracted`);
  }
  fs.renameSync(part, dest);
  bar.done(`${((total ?? 0) / 1e6).toFixed(1)} MB`);
  return { file: dest, bytes: total ?? fs.statSync(dest).size, md5: got, requests, resumed };
}

export interface DownloadMsdOptions {
  /** MSD task folder name, e.g. 'Task06_Lung' */
  task: string;
  /** where the archive and the extracted task folder go */
  outDir: string;
  /** default: the AWS mirror URL of the task */
  url?: string;
  /** expected MD5; default: the published one when the default URL is used; null = don't verify */
  md5?: string | null;
  /** also convert to the v2 layout (Dataset0XX_Name) */
  v2?: boolean;
  /** folder for the v2 dataset (default: outDir) */
  v2OutDir?: string;
  /** delete the archive after a successful extraction (default false: kept for re-extraction) */
  deleteArchive?: boolean;
  retries?: number;
  retryDelayMs?: number;
  timeoutMs?: number;
}

export interface DownloadMsdResult {
  /** the extracted MSD task folder */
  taskDir: string;
  /** the v2 dataset folder when `v2` was asked */
  v2Dir?: string;
  archive: string;
  md5: string;
  download: DownloadFileResult | null;
}

const STAMP = '.msd_download.json';

/** Download, verify, extract (and optionally convert) one MSD task. */
export async function downloadMsd(opts: DownloadMsdOptions): Promise<DownloadMsdResult> {
  const task = opts.task;
  if (!/^Task\d{2,3}_[A-Za-z0-9]+$/.test(task)) throw new Error(`downloadMsd: task must look like 'Task06_Lung', got '${task}'`);
  const url = opts.url ?? msdDefaultUrl(task);
  let md5: string | null;
  if (opts.md5 !== undefined) md5 = opts.md5;
  else if (url === msdDefaultUrl(task) && MSD_MD5[task]) md5 = MSD_MD5[task];
  else {
    md5 = null;
    process.stderr.write(`download_msd: no MD5 known for ${url}; the archive is not verified (pass --md5)\n`);
  }
  const out = path.resolve(opts.outDir);
  const ext = /\.(tar\.gz|tgz)$/i.test(new URL(url).pathname) ? '.tar.gz' : '.tar';
  const archive = path.join(out, `${task}${ext}`);
  const taskDir = path.join(out, task);
  const stampFile = path.join(taskDir, STAMP);

  let download: DownloadFileResult | null = null;
  let sum: string;
  const stamp = readStamp(stampFile);
  if (stamp && stamp.url === url && (md5 === null || stamp.md5 === md5) && fs.existsSync(path.join(taskDir, 'dataset.json'))) {
    sum = stamp.md5;
  } else {
    download = await downloadFile(url, archive, { md5, retries: opts.retries, retryDelayMs: opts.retryDelayMs, timeoutMs: opts.timeoutMs, label: `download ${task}` });
    sum = download.md5;
    const bar = progress(`extract ${task}`, 100);
    const size = fs.statSync(archive).size;
    const res = await extractTar(archive, out, { onBytes: (n) => bar.update(Math.round((100 * n) / size)) });
    bar.done(`${res.entries.length} entries`);
    if (!fs.existsSync(path.join(taskDir, 'dataset.json'))) {
      throw new Error(`${archive}: extracted, but ${taskDir}/dataset.json is missing (is this the ${task} archive?)`);
    }
    await writeJsonAtomic(stampFile, { url, md5: sum, archive: path.basename(archive), entries: res.entries.length, skipped: res.skipped.length });
    if (opts.deleteArchive) fs.rmSync(archive, { force: true });
  }
  const result: DownloadMsdResult = { taskDir, archive, md5: sum, download };
  if (opts.v2) {
    // DatasetXXX_Name, as convertMsdToV2 names it; an existing conversion is kept (the converter refuses to overwrite)
    const [taskPart, namePart] = task.split('_');
    const v2Dir = path.join(path.resolve(opts.v2OutDir ?? out), `Dataset${taskPart.slice(4).padStart(3, '0')}_${namePart}`);
    result.v2Dir = fs.existsSync(path.join(v2Dir, 'dataset.json')) ? v2Dir : (await convertMsdToV2(taskDir, path.resolve(opts.v2OutDir ?? out))).dir;
  }
  return result;
}

function readStamp(file: string): { url: string; md5: string } | null {
  try {
    const s = JSON.parse(fs.readFileSync(file, 'utf8'));
    return typeof s.url === 'string' && typeof s.md5 === 'string' ? s : null;
  } catch {
    return null;
  }
}

const USAGE =
  'usage: ts-node data-scripts/download_msd.ts --task Task06_Lung --out DIR [--url U] [--md5 M|none] [--v2] ' +
  '[--v2-out DIR] [--delete-archive] [--retries N]';

export function parseArgs(argv: string[]): DownloadMsdOptions {
  const o: Partial<DownloadMsdOptions> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = argv[i + 1];
    const need = (): string => {
      if (v === undefined || v.startsWith('--')) throw new Error(`${a} needs a value\n${USAGE}`);
      i++;
      return v;
    };
    switch (a) {
      case '--task':
        o.task = need();
        break;
      case '--out':
        o.outDir = need();
        break;
      case '--url':
        o.url = need();
        break;
      case '--md5': {
        const m = need();
        o.md5 = m === 'none' ? null : m;
        break;
      }
      case '--v2':
        o.v2 = true;
        break;
      case '--v2-out':
        o.v2OutDir = need();
        break;
      case '--delete-archive':
        o.deleteArchive = true;
        break;
      case '--retries': {
        const n = Number(need());
        if (!Number.isInteger(n) || n < 0) throw new Error(`--retries needs a non-negative integer\n${USAGE}`);
        o.retries = n;
        break;
      }
      case '-h':
      case '--help':
        throw new Error(USAGE);
      default:
        throw new Error(`unknown argument '${a}'\n${USAGE}`);
    }
  }
  if (!o.task) throw new Error(`--task is required\n${USAGE}`);
  if (!o.outDir) throw new Error(`--out is required\n${USAGE}`);
  return o as DownloadMsdOptions;
}

export async function main(argv: string[]): Promise<DownloadMsdResult> {
  const r = await downloadMsd(parseArgs(argv));
  process.stdout.write(`${r.taskDir}${r.v2Dir ? `\n${r.v2Dir}` : ''}\n`);
  return r;
}

if (require.main === module) {
  main(process.argv.slice(2)).catch((e: Error) => {
    process.stderr.write(`download_msd: ${e.message}\n`);
    process.exit(1);
  });
}
