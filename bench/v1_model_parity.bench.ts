/**
 * Issue 22: an official nnU-Net v1 model (the genuine hippocampus 2d fixture, ../shared/fixtures/official/
 * checkpoints) imported with Model.load and run on the 3 cases official predict_simple predicted. Prints per case
 * the voxels differing from the official segmentation, the softmax differences (max |diff|, values differing, in
 * float16 steps) and the time. `npm run bench -- v1_model_parity [--no-tta]`. Exit status 1 on any voxel difference.
 * test/model/v1_model.test.ts asserts the same on every `npm test`.
 */
import * as fs from 'fs';
import * as path from 'path';
import { unzipSync } from 'fflate';
import { initBackend } from '../sdk/network/backend';
import { Model } from '../sdk/model/model';
import { readNifti } from '../sdk/io/nifti';
import { parseNpy } from '../sdk/io/npy';

const FIX = path.resolve(__dirname, '../../shared/fixtures/official/checkpoints/Task004_Hippocampus_v1_2d');
const IMAGES = path.resolve(__dirname, '../../shared/data/Task04_Hippocampus/imagesTr');

function f16ulp(v: number): number {
  const a = Math.abs(v);
  return a < 2 ** -14 ? 2 ** -24 : 2 ** (Math.floor(Math.log2(a)) - 10);
}

export async function main(args: string[]): Promise<number> {
  const backend = await initBackend({ backend: process.env.NNUNET_BACKEND ? undefined : 'auto', log: false });
  const t0 = performance.now();
  const model = await Model.load(path.join(FIX, 'nnUNetTrainerV2__nnUNetPlansv2.1'));
  console.log(`${model} loaded in ${((performance.now() - t0) / 1000).toFixed(2)} s on ${backend.backend}`);
  const rows: string[][] = [['case', 'voxels', 'differing', 'softmax values', 'differing', 'max |diff|', 'max f16 steps', 'seconds']];
  let bad = 0;
  try {
    for (const id of ['hippocampus_001', 'hippocampus_003', 'hippocampus_004']) {
      const t = performance.now();
      const r = await model.predict(path.join(IMAGES, `${id}.nii.gz`), { probabilities: true, mirroring: !args.includes('--no-tta') });
      const s = (performance.now() - t) / 1000;
      const ref = await readNifti(path.join(FIX, 'official_predictions', `${id}.nii.gz`));
      let vox = 0;
      for (let i = 0; i < ref.data.length; i++) if (ref.data[i] !== r.segmentation.data[i]) vox++;
      const sm = parseNpy(unzipSync(fs.readFileSync(path.join(FIX, 'official_predictions', `${id}.npz`)))['softmax.npy']);
      let n = 0;
      let maxd = 0;
      let steps = 0;
      for (let i = 0; i < sm.data.length; i++) {
        const a = sm.data[i] as number;
        const b = r.probabilities!.data[i];
        if (a === b) continue;
        n++;
        maxd = Math.max(maxd, Math.abs(a - b));
        steps = Math.max(steps, Math.abs(a - b) / f16ulp(Math.max(Math.abs(a), Math.abs(b))));
      }
      bad += vox;
      rows.push([id, String(ref.data.length), String(vox), String(sm.data.length), String(n), maxd.toExponential(3), String(steps), s.toFixed(2)]);
    }
  } finally {
    model.dispose();
  }
  const w = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  for (const r of rows) console.log(r.map((c, i) => c.padStart(w[i])).join('  '));
  return bad ? 1 : 0;
}

if (require.main === module) {
  main(process.argv.slice(2)).then((c) => process.exit(c), (e) => {
    console.error(e);
    process.exit(1);
  });
}
