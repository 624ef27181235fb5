/**
 * Issue 22: Dice of an imported nnU-Net v2 model on hippocampus validation cases, ours (Model.load + predict on the
 * raw NIfTI) next to PyTorch's (bench/python/v2_predict_raw.py: nnunetv2's preprocessing, nnUNetPredictor and
 * export re-stated with torch 1.13 / numpy / scipy / scikit-image), per case and averaged, with the voxels where the
 * two segmentations differ, the largest softmax difference and both run times.
 *
 *   npm run bench -- v2_model_parity [--model plain|resenc|FOLDER] [--cases N] [--no-tta]
 *
 * Cases: fold 0's validation cases of the official split (../shared/fixtures/official/hippocampus_splits_final.json)
 * that the fixture's training (bench/python/make_v2_fixture.py: the first 120 sorted cases other than 001/003/004) did
 * not see. Exit status 1 when any voxel differs on more than 0.01 % of a case.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { initBackend } from '../sdk/network/backend';
import { Model } from '../sdk/model/model';
import { readNifti } from '../sdk/io/nifti';
import { readNpy } from '../sdk/io/npy';
import { confusionCounts, dice } from '../sdk/evaluation/metrics';

const PYTHON = process.env.NNUNET_REFERENCE_PYTHON ?? '/usr/bin/python3';
const DATA = path.resolve(__dirname, '../../shared/data/Task04_Hippocampus');
const SPLITS = path.resolve(__dirname, '../../shared/fixtures/official/hippocampus_splits_final.json');
const DS = path.resolve(__dirname, '../test/fixtures/v2_models/Dataset004_Hippocampus');
const MODELS: Record<string, string> = {
  plain: path.join(DS, 'nnUNetTrainer__nnUNetPlans__2d'),
  resenc: path.join(DS, 'nnUNetTrainer__nnUNetResEncUNetMPlans__2d'),
};
const FIXTURE_CASES = ['hippocampus_001', 'hippocampus_003', 'hippocampus_004'];

function arg(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}

export function heldOutValidationCases(): string[] {
  const ds = JSON.parse(fs.readFileSync(path.join(DATA, 'dataset.json'), 'utf8')) as { training: { image: string }[] };
  const all = ds.training.map((t) => path.basename(t.image).replace(/\.nii\.gz$/, '')).sort();
  const trained = new Set(all.filter((c) => !FIXTURE_CASES.includes(c)).slice(0, 120));
  const splits = JSON.parse(fs.readFileSync(SPLITS, 'utf8')) as { folds: { val: string[] }[] };
  return splits.folds[0].val.filter((c) => !trained.has(c));
}

function fmt(v: number): string {
  return Number.isNaN(v) ? 'nan' : v.toFixed(4);
}

export async function main(args: string[]): Promise<number> {
  const which = arg(args, '--model') ?? 'plain';
  const folder = MODELS[which] ?? path.resolve(which);
  const n = Number(arg(args, '--cases') ?? '0');
  const tta = !args.includes('--no-tta');
  let cases = heldOutValidationCases();
  if (n > 0) cases = cases.slice(0, n);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'nnunet-ts-v2bench-'));
  try {
    // PyTorch first (one process for all cases), then ours: one heavy job at a time
    const images = cases.map((c) => path.join(DATA, 'imagesTr', `${c}.nii.gz`));
    const tp = performance.now();
    const py = spawnSync(PYTHON, [path.resolve(__dirname, 'python/v2_predict_raw.py'), folder, tmp, ...images], {
      encoding: 'utf8',
      env: { ...process.env, NNUNET_REF_THREADS: process.env.NNUNET_REF_THREADS ?? '1', NNUNET_REF_NO_MIRROR: tta ? '0' : '1' },
    });
    if (py.status !== 0) throw new Error(`v2_predict_raw.py failed: ${py.stderr}`);
    const torchWall = (performance.now() - tp) / 1000;
    const torchTimes = new Map<string, number>();
    for (const line of py.stdout.trim().split('\n')) {
      const j = JSON.parse(line);
      torchTimes.set(j.case, j.preprocess_s + j.predict_s + j.export_s);
    }
    const backend = await initBackend({ backend: process.env.NNUNET_BACKEND ? undefined : 'auto', log: false });
    const model = await Model.load(folder);
    console.log(`${model} on ${backend.backend}; ${cases.length} held-out fold-0 validation cases, mirroring ${tta ? 'on' : 'off'}`);
    const rows: string[][] = [['case', 'Dice ours (1, 2)', 'Dice torch (1, 2)', 'voxels differing', 'max |softmax diff|', 'ours s', 'torch s']];
    const sums = { ours: [0, 0], torch: [0, 0], cnt: [0, 0] };
    let bad = 0;
    let oursTotal = 0;
    let torchTotal = 0;
    let maxAll = 0;
    let diffAll = 0;
    let voxAll = 0;
    try {
      for (const c of cases) {
        const t = performance.now();
        const r = await model.predict(path.join(DATA, 'imagesTr', `${c}.nii.gz`), { probabilities: true, mirroring: tta });
        const s = (performance.now() - t) / 1000;
        oursTotal += s;
        torchTotal += torchTimes.get(c) ?? NaN;
        const gt = (await readNifti(path.join(DATA, 'labelsTr', `${c}.nii.gz`))).data;
        const tseg = readNpy(path.join(tmp, `${c}_seg.npy`)).data as Uint8Array;
        const tprob = readNpy(path.join(tmp, `${c}_probs.npy`)).data as Float32Array;
        let diff = 0;
        for (let i = 0; i < tseg.length; i++) if (tseg[i] !== r.segmentation.data[i]) diff++;
        let maxd = 0;
        const P = r.probabilities!.data;
        for (let i = 0; i < P.length; i++) maxd = Math.max(maxd, Math.abs(P[i] - tprob[i]));
        maxAll = Math.max(maxAll, maxd);
        diffAll += diff;
        voxAll += tseg.length;
        if (diff / tseg.length > 1e-4) bad++;
        const dOurs = confusionCounts(r.segmentation.data, gt, [1, 2]).map((k) => dice(k));
        const dTorch = confusionCounts(tseg, gt, [1, 2]).map((k) => dice(k));
        for (const k of [0, 1]) {
          if (!Number.isNaN(dOurs[k]) && !Number.isNaN(dTorch[k])) {
            sums.ours[k] += dOurs[k];
            sums.torch[k] += dTorch[k];
            sums.cnt[k]++;
          }
        }
        rows.push([c, `${fmt(dOurs[0])} ${fmt(dOurs[1])}`, `${fmt(dTorch[0])} ${fmt(dTorch[1])}`, `${diff} / ${tseg.length}`, maxd.toExponential(2), s.toFixed(2), (torchTimes.get(c) ?? NaN).toFixed(2)]);
      }
    } finally {
      model.dispose();
    }
    const mean = (a: number[], k: number) => fmt(a[k] / sums.cnt[k]);
    rows.push([
      'mean',
      `${mean(sums.ours, 0)} ${mean(sums.ours, 1)}`,
      `${mean(sums.torch, 0)} ${mean(sums.torch, 1)}`,
      `${diffAll} / ${voxAll}`,
      maxAll.toExponential(2),
      oursTotal.toFixed(1),
      torchTotal.toFixed(1),
    ]);
    const w = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
    for (const r of rows) console.log(r.map((x, i) => x.padStart(w[i])).join('  '));
    console.log(`torch process wall time ${torchWall.toFixed(1)} s (NNUNET_REF_THREADS=${process.env.NNUNET_REF_THREADS ?? '1'}, includes start-up and model load); ours: sum of predict() calls`);
    return bad ? 1 : 0;
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (c) => process.exit(c),
    (e) => {
      console.error(e);
      process.exit(1);
    },
  );
}
