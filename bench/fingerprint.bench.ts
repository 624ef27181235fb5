/**
 * `npm run bench -- fingerprint [--threads 1,2] [--no-python] [--repeat N]`
 *
 * Wall time for fingerprinting the 200-case MSD Task04_Hippocampus (read NIfTI, crop to non-zero with hole filling,
 * sizes/spacings/classes, every 10th foreground voxel, dataset statistics) with sdk/fingerprint, inline and over
 * worker threads, with and without v2's random intensity sample (10e7 draws). The fixtures README gives no official timing for this step, so the anchor on this machine is a
 * numpy/scipy/nibabel script (written to a temp file and run with /usr/bin/python3) that follows the official v1
 * recipe (ImageCropper.crop + DatasetAnalyzer statistics) in a single process, the way nnU-Net runs per case.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { computeFingerprint } from '../sdk/fingerprint/fingerprint';
import { loadDataset } from '../sdk/io/dataset';
import { arg } from './script';

const PYTHON = process.env.NNUNET_REFERENCE_PYTHON ?? '/usr/bin/python3';
const DATA = path.resolve(__dirname, '../../shared/data/Task04_Hippocampus');

// v1 recipe: cropping.py crop_to_nonzero + DatasetAnalyzer._get_voxels_in_foreground / _compute_stats
const PY_REFERENCE = String.raw`
import json, os, sys, time
import numpy as np, nibabel as nib
from scipy.ndimage import binary_fill_holes
root = sys.argv[1]
ds = json.load(open(os.path.join(root, 'dataset.json')))
t0 = time.time()
samples, sizes = [], []
for e in sorted(ds['training'], key=lambda e: e['image']):
    img = np.asanyarray(nib.load(os.path.join(root, e['image'])).dataobj).astype(np.float32).T[None]
    seg = np.asanyarray(nib.load(os.path.join(root, e['label'])).dataobj).astype(np.float32).T[None]
    mask = binary_fill_holes(img[0] != 0)
    w = np.where(mask)
    bb = [[int(w[i].min()), int(w[i].max()) + 1] for i in range(3)]
    sl = tuple(slice(a, b) for a, b in bb)
    img = img[(slice(None),) + sl]; seg = seg[(slice(None),) + sl]
    seg[(seg == 0) & (~mask[sl][None])] = -1
    classes = np.unique(seg)
    sizes.append(img.shape[1:])
    samples += list(img[0][seg[0] > 0][::10])
s = np.array(samples)
stats = [np.median(s), np.mean(s), np.std(s), np.min(s), np.max(s), np.percentile(s, 99.5), np.percentile(s, 0.5)]
print(json.dumps({'seconds': time.time() - t0, 'cases': len(sizes), 'samples': len(samples)}))
`;

function pythonAvailable(): boolean {
  if (!fs.existsSync(PYTHON)) return false;
  return spawnSync(PYTHON, ['-c', 'import numpy, scipy, nibabel'], { stdio: 'pipe' }).status === 0;
}

export async function main(args: string[]): Promise<void> {
  if (!fs.existsSync(path.join(DATA, 'dataset.json'))) throw new Error(`fingerprint bench: ${DATA} not found (see ../shared/data/README.md)`);
  process.env.NNUNET_PROGRESS = process.env.NNUNET_PROGRESS ?? '0';
  const threadsList = (arg(args, '--threads') ?? '1,2').split(',').map(Number);
  const repeat = Number(arg(args, '--repeat') ?? '1');
  const rows: [string, string, string, string][] = [];
  console.log(`fingerprint bench: ${DATA}`);
  console.log(`machine: ${os.cpus().length} x ${os.cpus()[0]?.model ?? 'cpu'}, node ${process.version} (shared machine: expect +-40 %)`);
  const ds = loadDataset(DATA);
  const runs: [number, boolean][] = [[1, false], ...threadsList.map((t): [number, boolean] => [t, true])];
  for (const [threads, v2] of runs) {
    for (let r = 0; r < repeat; r++) {
      const t0 = process.hrtime.bigint();
      const fp = await computeFingerprint(ds, { threads, v2Intensities: v2 });
      const s = Number(process.hrtime.bigint() - t0) / 1e9;
      const what = `nnunet-ts, ${threads} thread${threads > 1 ? 's' : ''}, ${v2 ? 'v1 + v2 statistics' : 'v1 statistics only'}`;
      const note = `${fp.numCases} cases${threads > 1 ? ', incl. worker start-up (ts-node)' : ', inline'}${v2 ? ', 10e7 v2 draws' : ''}`;
      rows.push([what, s.toFixed(2), ((s / fp.numCases) * 1000).toFixed(1), note]);
    }
  }
  if (!args.includes('--no-python') && pythonAvailable()) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nnunet-ts-fp-bench-'));
    try {
      const script = path.join(dir, 'fingerprint_reference.py');
      fs.writeFileSync(script, PY_REFERENCE);
      const t0 = process.hrtime.bigint();
      const p = spawnSync(PYTHON, [script, DATA], { encoding: 'utf8' });
      const wall = Number(process.hrtime.bigint() - t0) / 1e9;
      if (p.status !== 0) throw new Error(`python reference failed: ${p.stderr}`);
      const out = JSON.parse(p.stdout.trim().split('\n').pop()!);
      rows.push(['numpy/scipy v1 recipe, 1 process (work only)', out.seconds.toFixed(2), ((out.seconds / out.cases) * 1000).toFixed(1), `${out.cases} cases`]);
      rows.push(['  same, incl. python start-up and imports', wall.toFixed(2), ((wall / out.cases) * 1000).toFixed(1), '']);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  } else {
    rows.push(['numpy/scipy v1 recipe', 'n/a', 'n/a', `${PYTHON} with numpy, scipy, nibabel not available`]);
  }
  rows.push(['official nnU-Net anchor (fixtures README)', 'none', 'none', 'the README gives no fingerprint timing']);
  const head: [string, string, string, string] = ['what', 'seconds', 'ms / case', 'note'];
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((c, i) => (i === 0 || i === 3 ? c.padEnd(w[i]) : c.padStart(w[i]))).join(' | ');
  console.log(line(head));
  console.log(w.map((n) => '-'.repeat(n)).join('-|-'));
  for (const r of rows) console.log(line(r));
}
