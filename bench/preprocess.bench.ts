/**
 * `npm run bench -- preprocess [--shape Z,Y,X] [--cases sepz,3d] [--no-python] [--no-compare]`
 *
 * Seconds per case for resampling one synthetic CT channel (default 250x512x512, z,y,x) to the Lung 3d_fullres
 * spacing (1.24, 0.79, 0.79), here (sdk/preprocessing/resampling.ts) versus nnU-Net's own recipe (scikit-image
 * resize order 3 + map_coordinates order 0, bench/python/resample_reference.py) run with /usr/bin/python3 on the same
 * input (.npy in a temp folder) on the same machine. Two input spacings:
 *   sepz: (2.5, 0.7, 0.7)  anisotropy 3.57 > 3 -> separate-z path (in-plane cubic per slice, nearest along z)
 *   3d:   (1.5, 0.7, 0.7)  anisotropy 2.14     -> one 3D cubic resize
 * With comparison on, the python output is read back and the max abs difference is reported relative to the range.
 *   case: the whole per-case pipeline (crop, transpose, resample data + label, CT normalization, class locations) on
 *         a (300, 512, 512) int16 CT with a label at (2.5, 0.7, 0.7); reports seconds and the peak RSS growth
 *         (memory bound of a Lung-sized case). No python row (nnU-Net does this inside its preprocessor).
 */
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { readNpy, writeNpySync } from '../sdk/io/npy';
import { resamplePatient, computeNewShape, decideSeparateZ } from '../sdk/preprocessing/resampling';
import { cropCase } from '../sdk/cropping/cropping';
import { preprocessCase } from '../sdk/preprocessing/preprocessing';
import { makeVolume } from '../sdk/io/volume';
import { arg } from './script';

const PYTHON = process.env.NNUNET_REFERENCE_PYTHON ?? '/usr/bin/python3';
const TARGET = [1.24, 0.79, 0.79]; // Lung 3d_fullres spacing (reference doc section 12.2), (z, y, x)

/** A CT-like volume: air -1024, body ellipse ~40 HU with noise, two lungs ~-800, a bone ring ~700. */
export function syntheticCT(Z: number, Y: number, X: number): Float32Array {
  const v = new Float32Array(Z * Y * X);
  let s = 0x9e3779b9;
  const rnd = () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return ((s >>> 0) / 4294967296) * 2 - 1;
  };
  let o = 0;
  for (let z = 0; z < Z; z++) {
    const fz = (z / Math.max(1, Z - 1)) * 2 - 1;
    const bodyR = 0.85 - 0.15 * fz * fz;
    for (let y = 0; y < Y; y++) {
      const fy = (y / (Y - 1)) * 2 - 1;
      for (let x = 0; x < X; x++, o++) {
        const fx = (x / (X - 1)) * 2 - 1;
        const r = Math.sqrt((fx * fx) / (bodyR * bodyR) + (fy * fy) / (0.7 * bodyR * 0.7 * bodyR));
        let val = -1024;
        if (r < 1) {
          val = 40 + 15 * rnd();
          if (r > 0.9) val = 700 + 50 * rnd();
          const lx = Math.abs(fx) - 0.35 * bodyR;
          const lung = (lx * lx) / 0.06 + (fy * fy) / 0.2 + fz * fz * 0.8;
          if (lung < 1) val = -800 + 30 * rnd();
          if (lung < 0.02) val = 30 + 10 * rnd(); // a "tumour"
        }
        v[o] = val;
      }
    }
  }
  return v;
}

function hasPython(): boolean {
  if (!fs.existsSync(PYTHON)) return false;
  const r = spawnSync(PYTHON, ['-c', 'import numpy, scipy, skimage'], { stdio: 'pipe' });
  return r.status === 0;
}

export async function main(args: string[]): Promise<void> {
  const shape = (arg(args, '--shape') ?? '250,512,512').split(',').map(Number) as [number, number, number];
  const cases = (arg(args, '--cases') ?? 'sepz,3d,case').split(',');
  const usePython = !args.includes('--no-python') && hasPython();
  const compare = !args.includes('--no-compare');
  const spacings: Record<string, number[]> = { sepz: [2.5, 0.7, 0.7], '3d': [1.5, 0.7, 0.7] };
  console.log(`preprocess bench: resampling one ${shape.join('x')} (z,y,x) float32 CT channel to spacing ${TARGET.join(', ')}`);
  console.log(`machine: ${os.cpus().length} x ${os.cpus()[0]?.model ?? 'cpu'}, node ${process.version}; TS single-threaded`);
  const t0 = Date.now();
  const vol = syntheticCT(...shape);
  console.log(`synthetic input generated in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'nnunet-ts-bench-'));
  const inFile = path.join(tmp, 'in.npy');
  if (usePython) writeNpySync(inFile, vol, shape);
  const rows: string[][] = [];
  try {
    for (const name of cases) {
      if (name === 'case') {
        rows.push(fullCaseRow(arg(args, '--case-shape')));
        continue;
      }
      const sp = spacings[name];
      if (!sp) throw new Error(`unknown case '${name}' (sepz, 3d)`);
      const newShape = computeNewShape(shape, sp, TARGET);
      const dec = decideSeparateZ(sp, TARGET);
      const t1 = process.hrtime.bigint();
      const r = resamplePatient([vol], null, shape, sp, TARGET);
      const tsSec = Number(process.hrtime.bigint() - t1) / 1e9;
      const out = r.data![0];
      let pySec = NaN;
      let diff = '';
      let pyNote = 'skipped: no python reference';
      if (usePython) {
        const outFile = compare ? path.join(tmp, `out_${name}.npy`) : '-';
        const res = execFileSync(
          PYTHON,
          [path.join(__dirname, 'python/resample_reference.py'), inFile, outFile, '--spacing', ...sp.map(String), '--target', ...TARGET.map(String)],
          { stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 20 },
        ).toString();
        const j = JSON.parse(res.trim().split('\n').pop() as string) as { seconds: number; shape: number[] };
        pySec = j.seconds;
        pyNote = `${pySec.toFixed(2)}`;
        if (compare) {
          const ref = readNpy(outFile);
          let md = 0;
          let lo = Infinity;
          let hi = -Infinity;
          for (let i = 0; i < ref.data.length; i++) {
            const d = Math.abs(ref.data[i] - out[i]);
            if (d > md) md = d;
            if (ref.data[i] < lo) lo = ref.data[i];
            if (ref.data[i] > hi) hi = ref.data[i];
          }
          diff = `${md.toExponential(2)} (${(md / (hi - lo)).toExponential(1)} of range)`;
          fs.rmSync(outFile);
        }
      }
      rows.push([
        name,
        sp.join('x'),
        newShape.join('x'),
        dec.doSeparateZ ? `yes (axis ${dec.axis})` : 'no',
        tsSec.toFixed(2),
        pyNote,
        Number.isFinite(pySec) ? `${(pySec / tsSec).toFixed(1)}x` : '-',
        diff || '-',
      ]);
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  const head = ['case', 'input spacing', 'output shape', 'separate z', 'nnunet-ts s/case', 'python skimage s/case', 'speedup', 'max |diff|'];
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) => '| ' + r.map((c, i) => c.padEnd(w[i])).join(' | ') + ' |';
  console.log(line(head));
  console.log('|' + w.map((x) => '-'.repeat(x + 2)).join('|') + '|');
  for (const r of rows) console.log(line(r));
}

/** The whole per-case pipeline on a Lung-sized CT; peak RSS growth measured with process.resourceUsage().maxRSS. */
function fullCaseRow(shapeArg: string | undefined): string[] {
  const shape = (shapeArg ?? '300,512,512').split(',').map(Number) as [number, number, number];
  const sp: [number, number, number] = [2.5, 0.7, 0.7];
  const f = syntheticCT(...shape);
  const img = new Int16Array(f.length);
  const lab = new Uint8Array(f.length);
  for (let i = 0; i < f.length; i++) {
    img[i] = Math.round(f[i]);
    lab[i] = f[i] > 0 && f[i] < 45 ? 1 : 0; // soft tissue of the body as a big "class 1"
  }
  const image = makeVolume(img, shape, { spacing: sp });
  const label = makeVolume(lab, shape, { spacing: sp });
  const rss0 = process.resourceUsage().maxRSS;
  const t = process.hrtime.bigint();
  const cropped = cropCase([image], label, 'bench');
  const r = preprocessCase(cropped, {
    spacing: TARGET,
    is2D: false,
    transposeForward: [0, 1, 2],
    normalizationSchemes: ['CT'],
    useMaskForNorm: [false],
    intensityProperties: [{ mean: -100, sd: 250, percentile_00_5: -950, percentile_99_5: 300 }],
    foregroundClasses: [1],
  });
  const sec = Number(process.hrtime.bigint() - t) / 1e9;
  const grow = (process.resourceUsage().maxRSS - rss0) / 1024;
  const inMB = (img.byteLength + lab.byteLength) / 2 ** 20;
  return [
    'case',
    sp.join('x'),
    r.dataShape.slice(1).join('x'),
    r.properties.separate_z.do_separate_z ? `yes (axis ${r.properties.separate_z.axis})` : 'no',
    `${sec.toFixed(2)} (peak RSS +${grow.toFixed(0)} MB, input ${inMB.toFixed(0)} MB)`,
    '- (no reference)',
    '-',
    '-',
  ];
}
