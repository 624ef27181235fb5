/**
 * `npm run bench -- io [--repeats N] [--no-ct]`
 *
 * NIfTI read and write throughput (MB/s of voxel data, 1 MB = 1e6 bytes; median of N runs) for
 *  - the largest Task04_Hippocampus case (image, as stored: float32 or uint8), and
 *  - a 512x512x250 (x, y, z) int16 CT from the synthetic-lung generator (data-scripts/synthetic_lung.ts, case 1 with
 *    its shape overridden; generated once, ~1 min, and cached in .cache/bench/).
 * Each volume is written and read back as .nii.gz at zlib level 6 (ITK's), at level 1 (our default), and as
 * uncompressed .nii. Writes are atomic (temp file, fsync, rename), as every artifact write in nnunet-ts.
 * For scale, the same files are also read and written by nibabel 5 (Debian's /usr/bin/python3; 'nibabel' rows:
 * read = load + np.array of the voxels, write = nib.save at nibabel's default gzip level, 1) unless --no-python.
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { readNifti, writeNifti } from '../sdk/io/nifti';
import { Volume, numVoxels } from '../sdk/io/volume';
import { generateCase } from '../data-scripts/synthetic_lung';

const HIPPO = path.resolve(__dirname, '../../shared/data/Task04_Hippocampus');
const FIX = path.resolve(__dirname, '../../shared/fixtures/official');
const CACHE = path.resolve(__dirname, '../.cache/bench');
const PYTHON = process.env.NNUNET_REFERENCE_PYTHON ?? '/usr/bin/python3';

/** nibabel read and write seconds (median of n) for a file, or null when python/nibabel is unavailable. */
function nibabelTimes(file: string, n: number): { read: number; write: number; bytes: number } | null {
  const py = [
    'import sys, time, statistics, numpy as np, nibabel as nib',
    'f, n, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]',
    'r = []; w = []',
    'for _ in range(n):',
    '    t = time.perf_counter(); img = nib.load(f); a = np.array(img.dataobj); r.append(time.perf_counter() - t)',
    'for _ in range(n):',
    '    t = time.perf_counter(); nib.save(nib.Nifti1Image(a, img.affine, img.header), out); w.append(time.perf_counter() - t)',
    'import os; print(statistics.median(r), statistics.median(w), os.path.getsize(out))',
  ].join('\n');
  try {
    const out = execFileSync(PYTHON, ['-c', py, file, String(n), path.join(path.dirname(file), `nib${file.endsWith('.gz') ? '.nii.gz' : '.nii'}`)], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const [read, write, bytes] = out.trim().split(/\s+/).map(Number);
    return { read, write, bytes };
  } catch {
    return null;
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

async function timeIt(fn: () => Promise<unknown>, repeats: number): Promise<number> {
  const ts: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const t = process.hrtime.bigint();
    await fn();
    ts.push(Number(process.hrtime.bigint() - t) / 1e9);
  }
  return median(ts);
}

function sameVoxels(a: Volume, b: Volume): boolean {
  if (a.data.length !== b.data.length || a.data.constructor !== b.data.constructor) return false;
  for (let i = 0; i < a.data.length; i++) if (a.data[i] !== b.data[i]) return false;
  return true;
}

async function syntheticCt(): Promise<{ name: string; vol: Volume }> {
  const file = path.join(CACHE, 'synthlung_case1_250x512x512.nii.gz');
  if (!fs.existsSync(file)) {
    process.stdout.write('generating the 512x512x250 synthetic CT (data-scripts/synthetic_lung.ts generateCase(1)) ... ');
    const t = Date.now();
    const c = generateCase(1, { shape: [250, 512, 512] });
    await writeNifti(file, c.image);
    console.log(`${((Date.now() - t) / 1000).toFixed(1)} s, cached in ${path.relative(process.cwd(), file)}`);
  }
  return { name: 'synthetic CT 512x512x250 int16', vol: await readNifti(file) };
}

async function largestHippocampus(): Promise<{ name: string; vol: Volume }> {
  const table = JSON.parse(fs.readFileSync(path.join(FIX, 'hippocampus_v1_case_table.json'), 'utf8')).cases as Record<
    string,
    { original_size_of_raw_data: number[] }
  >;
  const [id] = Object.entries(table).sort((a, b) => numVoxels(b[1].original_size_of_raw_data) - numVoxels(a[1].original_size_of_raw_data))[0];
  const src = path.join(HIPPO, 'imagesTr', `${id}.nii.gz`);
  const vol = await readNifti(src);
  return { name: `${id} (${vol.shape.join('x')} z,y,x, ${vol.data.constructor.name.replace('Array', '')})`, vol };
}

export async function main(args: string[]): Promise<void> {
  const ri = args.indexOf('--repeats');
  const repeats = ri >= 0 ? Number(args[ri + 1]) : 3;
  const sources = [await largestHippocampus()];
  if (!args.includes('--no-ct')) sources.push(await syntheticCt());
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'nnunet-ts-iobench-'));
  const variants = [
    { label: '.nii.gz level 6', ext: '.nii.gz', level: 6 },
    { label: '.nii.gz level 1', ext: '.nii.gz', level: 1 },
    { label: '.nii', ext: '.nii', level: 0 },
  ];
  const rows: string[][] = [];
  try {
    for (const { name, vol } of sources) {
      const mb = vol.data.byteLength / 1e6;
      // small files: more repeats so the median means something
      const n = vol.data.byteLength < 4e6 ? Math.max(repeats, 15) : repeats;
      for (const v of variants) {
        const file = path.join(tmp, `x${v.ext}`);
        const w = await timeIt(() => writeNifti(file, vol, { compressionLevel: v.level }), n);
        const r = await timeIt(() => readNifti(file), n);
        if (!sameVoxels(await readNifti(file), vol)) throw new Error(`${name} ${v.label}: voxels changed in the round trip`);
        const row = (label: string, rs: number, ws: number, bytes: number): string[] => [
          name,
          label,
          String(vol.data.length),
          mb.toFixed(2),
          (bytes / 1e6).toFixed(2),
          (mb / rs).toFixed(1),
          (mb / ws).toFixed(1),
          `${(rs * 1000).toFixed(1)} / ${(ws * 1000).toFixed(1)}`,
        ];
        rows.push(row(v.label, r, w, fs.statSync(file).size));
        // nibabel reading the same file and writing it with its own default gzip level, for scale
        if (!args.includes('--no-python') && v.level !== 6) {
          const nib = nibabelTimes(file, n);
          if (nib) rows.push(row(`${v.ext} nibabel`, nib.read, nib.write, nib.bytes));
        }
      }
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  const head = ['file', 'format', 'voxels', 'MB', 'file MB', 'read MB/s', 'write MB/s', 'read / write ms'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]): string => r.map((c, i) => (i < 2 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(' | ');
  console.log(`\nNIfTI I/O throughput (MB of voxel data per second, median of ${repeats}+ runs; ${os.cpus().length} CPUs, node ${process.version})`);
  console.log(line(head));
  console.log(widths.map((w) => '-'.repeat(w)).join('-|-'));
  for (const r of rows) console.log(line(r));
}
