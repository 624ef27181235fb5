/**
 * A small real task for end-to-end runs: the first `numTraining` Task04_Hippocampus cases of ../shared/data (MSD
 * layout) as training cases and the next `numTest` as imagesTs, symlinked (the shared data is read, never copied
 * or modified) into a fresh folder with its own dataset.json.
 */
import * as fs from 'fs';
import * as path from 'path';
import { HIPPOCAMPUS_DIR } from './synthlung';

export function hippocampusSubset(root: string, o: { numTraining?: number; numTest?: number; name?: string } = {}): string {
  const nTrain = o.numTraining ?? 10;
  const nTest = o.numTest ?? 2;
  const dir = path.join(root, o.name ?? 'Task04_HippocampusSubset');
  const ds = JSON.parse(fs.readFileSync(path.join(HIPPOCAMPUS_DIR, 'dataset.json'), 'utf8'));
  const ids = (ds.training as { image: string }[]).map((t) => path.basename(t.image, '.nii.gz')).sort();
  if (ids.length < nTrain + nTest) throw new Error(`${HIPPOCAMPUS_DIR} has ${ids.length} cases, ${nTrain + nTest} asked for`);
  const train = ids.slice(0, nTrain);
  const test = ids.slice(nTrain, nTrain + nTest);
  for (const sub of ['imagesTr', 'labelsTr', 'imagesTs']) fs.mkdirSync(path.join(dir, sub), { recursive: true });
  const link = (src: string, dst: string) => {
    if (!fs.existsSync(dst)) fs.symlinkSync(src, dst);
  };
  for (const id of train) {
    link(path.join(HIPPOCAMPUS_DIR, 'imagesTr', `${id}.nii.gz`), path.join(dir, 'imagesTr', `${id}.nii.gz`));
    link(path.join(HIPPOCAMPUS_DIR, 'labelsTr', `${id}.nii.gz`), path.join(dir, 'labelsTr', `${id}.nii.gz`));
  }
  for (const id of test) link(path.join(HIPPOCAMPUS_DIR, 'imagesTr', `${id}.nii.gz`), path.join(dir, 'imagesTs', `${id}.nii.gz`));
  const json = {
    ...ds,
    numTraining: nTrain,
    numTest: nTest,
    training: train.map((id) => ({ image: `./imagesTr/${id}.nii.gz`, label: `./labelsTr/${id}.nii.gz` })),
    test: test.map((id) => `./imagesTs/${id}.nii.gz`),
  };
  fs.writeFileSync(path.join(dir, 'dataset.json'), JSON.stringify(json, null, 2));
  return dir;
}
