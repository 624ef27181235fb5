/**
 * `npm run bench -- io [--repeats N] [--no-ct] [--no-python]`, or `npm run bench -- io --itk` (see itkCompare below)
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
import type { Volume } from '../sdk/io/volume';
import { numVoxels } from '../sdk/io/volume';
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

// ---------------------------------------------------------------------------------------------------------------
// `--itk`: compare the geometry, pixel type and voxels we read with ITK's own NiftiImageIO (needs g++ and Debian's
// libinsighttoolkit5-dev: `apt-get install -y libinsighttoolkit5-dev g++`), on every hippocampus file, ct-sample, the
// synthetic lung, hand-built edge-case headers and files we wrote.

const ITK_READER_CXX = `
#include "itkImageFileReader.h"
#include "itkNiftiImageIO.h"
#include <cstdio>
int main(int argc, char** argv) {
  for (int a = 1; a < argc; ++a) {
    using ImageType = itk::Image<double, 3>;
    auto reader = itk::ImageFileReader<ImageType>::New();
    auto io = itk::NiftiImageIO::New();
    reader->SetImageIO(io);
    reader->SetFileName(argv[a]);
    try { reader->Update(); } catch (itk::ExceptionObject & e) { printf("{\\"error\\":true}\\n"); continue; }
    auto img = reader->GetOutput();
    auto sz = img->GetLargestPossibleRegion().GetSize();
    auto sp = img->GetSpacing(); auto o = img->GetOrigin(); auto d = img->GetDirection();
    printf("{\\"size\\":[%lu,%lu,%lu],\\"spacing\\":[%.17g,%.17g,%.17g],\\"origin\\":[%.17g,%.17g,%.17g],\\"direction\\":[",
      (unsigned long)sz[0], (unsigned long)sz[1], (unsigned long)sz[2], sp[0], sp[1], sp[2], o[0], o[1], o[2]);
    for (int i = 0; i < 9; ++i) printf("%.17g%s", d[i / 3][i % 3], i < 8 ? "," : "");
    const double* p = img->GetBufferPointer(); size_t n = sz[0] * sz[1] * sz[2]; double sum = 0, sum2 = 0;
    for (size_t i = 0; i < n; ++i) { sum += p[i]; sum2 += p[i] * (double)(i % 101); }
    printf("],\\"component\\":\\"%s\\",\\"sum\\":%.17g,\\"wsum\\":%.17g}\\n",
      itk::ImageIOBase::GetComponentTypeAsString(io->GetComponentType()).c_str(), sum, sum2);
  }
}
`;

function buildItkReader(dir: string): string {
  const src = path.join(dir, 'itkread.cxx');
  const exe = path.join(dir, 'itkread');
  fs.writeFileSync(src, ITK_READER_CXX);
  const inc = fs.readdirSync('/usr/include').find((d) => /^ITK-5\.\d+$/.test(d));
  if (!inc) throw new Error('--itk: ITK headers not found (apt-get install -y libinsighttoolkit5-dev g++)');
  const ver = inc.slice(4);
  const libs = ['ITKIONIFTI', 'ITKniftiio', 'ITKznz', 'ITKIOImageBase', 'ITKCommon', 'itksys', 'itkvnl_algo', 'itkvnl', 'ITKVNLInstantiation', 'itkv3p_netlib'];
  execFileSync('g++', ['-O1', '-std=c++17', `-I/usr/include/${inc}`, src, '-o', exe, ...libs.map((l) => `-l${l}-${ver}`)], { stdio: 'inherit' });
  return exe;
}

function rawHeader(o: { dims: number[]; pixdim: number[]; qform?: number; sform?: number; quatern?: number[]; qoffset?: number[]; srow?: number[][]; units?: number; slope?: number; inter?: number; datatype?: number }): Uint8Array {
  const dt = o.datatype ?? 4;
  const n = o.dims.reduce((a, b) => a * b, 1);
  const out = new Uint8Array(352 + n * 2);
  const v = new DataView(out.buffer);
  v.setInt32(0, 348, true);
  v.setInt16(40, 3, true);
  o.dims.forEach((d, i) => v.setInt16(42 + 2 * i, d, true));
  for (let i = 4; i < 8; i++) v.setInt16(40 + 2 * i, 1, true);
  v.setInt16(70, dt, true);
  v.setInt16(72, 16, true);
  o.pixdim.forEach((p, i) => v.setFloat32(76 + 4 * i, p, true));
  v.setFloat32(108, 352, true);
  v.setFloat32(112, o.slope ?? 1, true);
  v.setFloat32(116, o.inter ?? 0, true);
  out[123] = o.units ?? 10;
  v.setInt16(252, o.qform ?? 0, true);
  v.setInt16(254, o.sform ?? 0, true);
  (o.quatern ?? [0, 0, 0]).forEach((q, i) => v.setFloat32(256 + 4 * i, q, true));
  (o.qoffset ?? [0, 0, 0]).forEach((q, i) => v.setFloat32(268 + 4 * i, q, true));
  (o.srow ?? [[0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]]).forEach((r, i) => r.forEach((x, j) => v.setFloat32(280 + (i * 4 + j) * 4, x, true)));
  out.set([0x6e, 0x2b, 0x31, 0], 344);
  for (let i = 0; i < n; i++) v.setInt16(352 + 2 * i, (i * 37) % 2000 - 1000, true);
  return out;
}

async function itkCompare(): Promise<void> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'nnunet-ts-itk-'));
  try {
    const exe = buildItkReader(tmp);
    const files: { group: string; file: string }[] = [];
    for (const sub of ['imagesTr', 'labelsTr']) {
      for (const f of fs.readdirSync(path.join(HIPPO, sub)).filter((x) => x.endsWith('.nii.gz'))) files.push({ group: `hippocampus ${sub}`, file: path.join(HIPPO, sub, f) });
    }
    const ctDir = path.resolve(__dirname, '../../shared/data/ct-sample');
    for (const f of ['ct.nii.gz', 'seg.nii.gz']) files.push({ group: 'ct-sample', file: path.join(ctDir, f) });
    const lung = path.resolve(__dirname, '../.cache/synthlung/Task06_SynthLung');
    if (fs.existsSync(lung)) {
      for (const sub of ['imagesTr', 'labelsTr', 'imagesTs']) {
        for (const f of fs.readdirSync(path.join(lung, sub))) files.push({ group: 'synthetic lung', file: path.join(lung, sub, f) });
      }
    }
    const d = [3, 4, 5];
    const rot = (t: number): number[][] => [[Math.cos(t), -Math.sin(t), 0], [Math.sin(t), Math.cos(t), 0], [0, 0, 1]];
    const srowOf = (r: number[][], sp: number[], off: number[]): number[][] => r.map((row, i) => [...row.map((x, j) => x * sp[j]), off[i]]);
    const edge: Record<string, Parameters<typeof rawHeader>[0]> = {
      'no codes': { dims: d, pixdim: [1, 2, 3, 4] },
      'qform identity': { dims: d, pixdim: [1, 2, 3, 4], qform: 1, qoffset: [1, 2, 3] },
      'qform oblique, code 2': { dims: d, pixdim: [1, 2, 3, 4], qform: 2, quatern: [0.1, 0.2, 0.3], qoffset: [-5, 6, 7.5] },
      'qform qfac -1': { dims: d, pixdim: [-1, 2, 3, 4], qform: 1, quatern: [0, 0, 1] },
      'qform 180 about x': { dims: d, pixdim: [1, 2, 3, 4], qform: 1, quatern: [1, 0, 0] },
      'sform only, oblique': { dims: d, pixdim: [1, 2, 3, 4], sform: 2, srow: srowOf(rot(0.3), [2, 3, 4], [5, 6, 7]) },
      'sform 1 differs from qform': { dims: d, pixdim: [1, 2, 3, 4], qform: 1, sform: 1, srow: srowOf(rot(Math.PI), [2, 3, 4], [50, 60, 70]) },
      'sform 2 differs from qform': { dims: d, pixdim: [1, 2, 3, 4], qform: 1, sform: 2, srow: srowOf(rot(Math.PI), [2, 3, 4], [50, 60, 70]) },
      'skewed sform + qform': { dims: d, pixdim: [1, 2, 3, 4], qform: 1, sform: 1, srow: [[2, 1, 0, 5], [0, 3, 0, 6], [0, 0, 4, 7]] },
      'skewed sform only (error)': { dims: d, pixdim: [1, 2, 3, 4], sform: 1, srow: [[2, 1, 0, 5], [0, 3, 0, 6], [0, 0, 4, 7]] },
      'negative pixdim, qform': { dims: d, pixdim: [1, -2, 3, 4], qform: 1, qoffset: [1, 2, 3] },
      'pixdim 0': { dims: d, pixdim: [1, 0, 3, 4], qform: 1 },
      'units metre': { dims: d, pixdim: [1, 2, 3, 4], qform: 1, units: 1 },
      'units micron, sform': { dims: d, pixdim: [1, 2, 3, 4], sform: 1, units: 3, srow: srowOf(rot(0), [2, 3, 4], [5, 6, 7]) },
      'scl 0.5 / -3 (int16 -> float)': { dims: d, pixdim: [1, 2, 3, 4], qform: 1, slope: 0.5, inter: -3 },
      'scl slope 0': { dims: d, pixdim: [1, 2, 3, 4], qform: 1, slope: 0, inter: 7 },
      // ITK-version dependent (ITK 5.2 and current master differ): sform scale != pixdim, sform 3 within 1e-4 of qform
      'sform scale != pixdim (version dependent)': { dims: d, pixdim: [1, 2, 3, 4], qform: 1, sform: 1, srow: srowOf(rot(0), [2.5, 3, 4], [5, 6, 7]) },
      'sform 3 = qform + 1e-5 (version dependent)': { dims: d, pixdim: [1, 2, 3, 4], qform: 1, qoffset: [1, 2, 3], sform: 3, srow: srowOf(rot(0), [2, 3, 4], [1.00001, 2, 3]) },
    };
    for (const [k, o] of Object.entries(edge)) {
      const f = path.join(tmp, `edge_${Object.keys(edge).indexOf(k)}.nii`);
      fs.writeFileSync(f, rawHeader(o));
      files.push({ group: `edge: ${k}`, file: f });
    }
    const c = Math.cos(0.4), s = Math.sin(0.4);
    const dirs: Record<string, number[]> = { identity: [1, 0, 0, 0, 1, 0, 0, 0, 1], 'rotation about z': [c, -s, 0, s, c, 0, 0, 0, 1], 'permutation + flip': [0, 0, 1, 1, 0, 0, 0, -1, 0], 'oblique 3D': [0.36, 0.48, -0.8, -0.8, 0.6, 0, 0.48, 0.64, 0.6] };
    for (const [k, dd] of Object.entries(dirs)) {
      const f = path.join(tmp, `written_${Object.keys(dirs).indexOf(k)}.nii.gz`);
      await writeNifti(f, { data: Float32Array.from({ length: 60 }, (_, i) => i * 0.25 - 3), shape: [3, 4, 5], spacing: [2.5, 0.7, 0.9], origin: [10.1, -20.2, 30.3], direction: dd as Volume['direction'] });
      files.push({ group: `written by writeNifti: ${k}`, file: f });
    }
    const refs: string[] = [];
    for (let i = 0; i < files.length; i += 50) {
      refs.push(...execFileSync(exe, files.slice(i, i + 50).map((f) => f.file), { encoding: 'utf8', maxBuffer: 1 << 26 }).trim().split('\n'));
    }
    const COMPONENT: Record<string, string> = { Uint8Array: 'unsigned_char', Int8Array: 'char', Int16Array: 'short', Uint16Array: 'unsigned_short', Int32Array: 'int', Uint32Array: 'unsigned_int', Float32Array: 'float', Float64Array: 'double' };
    const groups = new Map<string, { n: number; same: number; notes: string[] }>();
    for (const [i, { group, file }] of files.entries()) {
      const ref = JSON.parse(refs[i]);
      const g = groups.get(group) ?? { n: 0, same: 0, notes: [] };
      groups.set(group, g);
      g.n++;
      let diff = '';
      try {
        const v = await readNifti(file);
        if (ref.error) diff = 'ITK refuses the file, we read it';
        else {
          let sum = 0, wsum = 0;
          for (let k = 0; k < v.data.length; k++) {
            sum += v.data[k];
            wsum += v.data[k] * (k % 101);
          }
          const eq = (a: number[], b: number[]): boolean => a.length === b.length && a.every((x, j) => x === b[j]);
          if (!eq([...v.shape].reverse(), ref.size)) diff += ` size ${[...v.shape].reverse()} vs ${ref.size}`;
          if (!eq([...v.spacing].reverse(), ref.spacing)) diff += ` spacing ${[...v.spacing].reverse()} vs ${ref.spacing}`;
          if (!eq(v.origin, ref.origin)) diff += ` origin ${v.origin} vs ${ref.origin}`;
          if (!eq(v.direction, ref.direction)) diff += ` direction ${v.direction} vs ${ref.direction}`;
          if (COMPONENT[v.data.constructor.name] !== ref.component) diff += ` type ${v.data.constructor.name} vs ${ref.component}`;
          if (sum !== ref.sum || wsum !== ref.wsum) diff += ' voxels differ';
        }
      } catch (e) {
        if (!ref.error) diff = `we refuse it: ${(e as Error).message}`;
      }
      if (diff) g.notes.push(`${path.basename(file)}:${diff}`);
      else g.same++;
    }
    console.log(`\nNIfTI reading vs ITK ${buildItkVersion()} NiftiImageIO (size, spacing, origin, direction compared as exact doubles; pixel type; voxel sums)`);
    const w = Math.max(...[...groups.keys()].map((k) => k.length));
    console.log(`${'files'.padEnd(w)} | files | identical | differences`);
    for (const [k, g] of groups) console.log(`${k.padEnd(w)} | ${String(g.n).padStart(5)} | ${String(g.same).padStart(9)} | ${g.notes.join('; ')}`);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

function buildItkVersion(): string {
  return fs.readdirSync('/usr/include').find((d) => /^ITK-5\.\d+$/.test(d))?.slice(4) ?? '?';
}

export async function main(args: string[]): Promise<void> {
  if (args.includes('--itk')) return itkCompare();
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
