import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { loadDataset, convertMsdToV2, resolveInside } from '../../sdk/io/dataset';
import { readNifti, readNiftiChannels, writeNifti } from '../../sdk/io/nifti';
import { makeVolume, Volume } from '../../sdk/io/volume';
import { ensureSynthLung } from '../helpers/synthlung';

const FIX = path.resolve(__dirname, '../../../shared/fixtures/official');
const HIPPO = path.resolve(__dirname, '../../../shared/data/Task04_Hippocampus');

function tmpDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'nnunet-ts-dataset-'));
}

function vol(seed: number, shape: [number, number, number] = [3, 4, 5]): Volume<Float32Array> {
  const n = shape[0] * shape[1] * shape[2];
  return makeVolume(Float32Array.from({ length: n }, (_, i) => ((i * 13 + seed * 7) % 50) - 10), shape, {
    spacing: [2, Math.fround(0.75), Math.fround(0.75)],
    origin: [10, -20, 30],
    direction: [-1, 0, 0, 0, -1, 0, 0, 0, 1],
  });
}

function labelVol(seed: number, shape: [number, number, number] = [3, 4, 5]): Volume<Uint8Array> {
  const v = vol(seed, shape);
  return { ...v, data: Uint8Array.from(v.data, (x) => (x > 20 ? 1 : 0)) };
}

test('loadDataset: the MSD hippocampus folder (200 cases, sorted ids, labels both ways, lazy loading)', async () => {
  const ds = loadDataset(HIPPO);
  assert.equal(ds.layout, 'msd');
  assert.equal(ds.name, 'Hippocampus');
  assert.equal(ds.dir, HIPPO);
  assert.deepEqual(ds.channelNames, ['MRI']);
  assert.deepEqual(ds.labels, { background: 0, Anterior: 1, Posterior: 2 });
  assert.deepEqual(ds.labelNames, { 0: 'background', 1: 'Anterior', 2: 'Posterior' });
  assert.equal(ds.numClasses, 3);
  assert.equal(ds.fileEnding, '.nii.gz');
  assert.equal(ds.testCases.length, 0);
  assert.deepEqual(ds.problems, []);
  const table = JSON.parse(fs.readFileSync(path.join(FIX, 'hippocampus_v1_case_table.json'), 'utf8')).cases;
  assert.deepEqual(
    ds.cases.map((c) => c.id),
    Object.keys(table).sort(),
  );
  // the official 5-fold split covers the same ids
  const splits = JSON.parse(fs.readFileSync(path.join(FIX, 'hippocampus_splits_final.json'), 'utf8'));
  assert.deepEqual([...splits.folds[0].train, ...splits.folds[0].val].sort(), ds.cases.map((c) => c.id));
  const c = ds.case('hippocampus_003');
  assert.deepEqual(c.imageFiles, [path.join(HIPPO, 'imagesTr/hippocampus_003.nii.gz')]);
  assert.deepEqual(c.channels, [{ file: path.join(HIPPO, 'imagesTr/hippocampus_003.nii.gz') }]);
  assert.equal(c.labelFile, path.join(HIPPO, 'labelsTr/hippocampus_003.nii.gz'));
  const [img] = await c.loadImage();
  const lab = await c.loadLabel();
  assert.deepEqual(img.shape, table.hippocampus_003.original_size_of_raw_data);
  assert.ok(lab.data instanceof Float32Array, 'hippocampus_003 has a float32 label on disk');
  assert.match(ds.summary(), /Hippocampus \(MSD\/v1 layout\)[\s\S]*0 MRI[\s\S]*1 Anterior, 2 Posterior[\s\S]*training cases: 200/);
  assert.throws(() => ds.case('hippocampus_002'), /no training case 'hippocampus_002'/);
});

test('convertMsdToV2 on the synthetic lung matches the official v2 dataset.json; the v2 dataset reads back the same cases', async () => {
  const msd = await ensureSynthLung();
  const out = tmpDir();
  const res = await convertMsdToV2(msd, out);
  assert.equal(res.dir, path.join(out, 'Dataset006_SynthLung'));
  const official = JSON.parse(fs.readFileSync(path.join(FIX, 'synthlung/v2/dataset.json'), 'utf8'));
  const written = JSON.parse(fs.readFileSync(path.join(res.dir, 'dataset.json'), 'utf8'));
  assert.deepEqual(written, official);
  assert.deepEqual(Object.keys(written), Object.keys(official), 'same key order as the official converter');
  // 3D images and labels are copied byte for byte
  assert.ok(fs.readFileSync(path.join(res.dir, 'imagesTr/lung_001_0000.nii.gz')).equals(fs.readFileSync(path.join(msd, 'imagesTr/lung_001.nii.gz'))));
  assert.ok(fs.readFileSync(path.join(res.dir, 'labelsTr/lung_001.nii.gz')).equals(fs.readFileSync(path.join(msd, 'labelsTr/lung_001.nii.gz'))));
  assert.deepEqual(fs.readdirSync(path.join(res.dir, 'imagesTs')), ['lung_009_0000.nii.gz']);

  const v1 = loadDataset(msd);
  const v2 = loadDataset(res.dir);
  assert.equal(v1.layout, 'msd');
  assert.equal(v2.layout, 'v2');
  assert.deepEqual(v2.channelNames, ['CT']);
  assert.deepEqual(v2.labels, { background: 0, cancer: 1 });
  assert.deepEqual(v2.labelNames, { 0: 'background', 1: 'cancer' });
  assert.equal(v2.numClasses, 2);
  assert.deepEqual(v2.problems, []);
  assert.deepEqual(
    v2.cases.map((c) => c.id),
    v1.cases.map((c) => c.id),
  );
  assert.deepEqual(
    v2.testCases.map((c) => c.id),
    ['lung_009'],
  );
  assert.deepEqual(v1.testCases.map((c) => c.id), ['lung_009']);
  const a = await v1.case('lung_003').loadImage();
  const b = await v2.case('lung_003').loadImage();
  assert.deepEqual(b[0].shape, a[0].shape);
  assert.deepEqual(b[0].origin, a[0].origin);
  assert.deepEqual(v2.case('lung_003').channels, [{ file: path.join(res.dir, 'imagesTr/lung_003_0000.nii.gz') }]);
  await assert.rejects(convertMsdToV2(msd, out), /target dataset already exists/);
  fs.rmSync(out, { recursive: true, force: true });
});

test('convertMsdToV2 on the hippocampus matches the official v2 dataset.json (no imagesTs: treated as empty)', async () => {
  const out = tmpDir();
  const res = await convertMsdToV2(HIPPO, out, { datasetId: 104 });
  assert.equal(path.basename(res.dir), 'Dataset104_Hippocampus', 'datasetId overrides the task number');
  const official = JSON.parse(fs.readFileSync(path.join(FIX, 'hippocampus_v2_dataset.json'), 'utf8'));
  assert.deepEqual(JSON.parse(fs.readFileSync(path.join(res.dir, 'dataset.json'), 'utf8')), official);
  const v2 = loadDataset(res.dir);
  assert.equal(v2.cases.length, 200);
  assert.deepEqual(v2.problems, []);
  fs.rmSync(out, { recursive: true, force: true });
});

test('4D MSD images: one file + channel index per channel; conversion splits them into _0000/_0001', async () => {
  const root = tmpDir();
  const msd = path.join(root, 'Task05_Prostate');
  fs.mkdirSync(path.join(msd, 'imagesTr'), { recursive: true });
  fs.mkdirSync(path.join(msd, 'labelsTr'));
  fs.mkdirSync(path.join(msd, 'imagesTs'));
  const ids = ['prostate_02', 'prostate_00'];
  for (const [k, id] of ids.entries()) {
    await writeNifti(path.join(msd, 'imagesTr', `${id}.nii.gz`), [vol(k), vol(k + 10)]);
    await writeNifti(path.join(msd, 'labelsTr', `${id}.nii.gz`), labelVol(k));
  }
  await writeNifti(path.join(msd, 'imagesTs', 'prostate_07.nii.gz'), [vol(5), vol(6)]);
  fs.writeFileSync(path.join(msd, 'imagesTr', '._prostate_00.nii.gz'), 'macOS resource fork');
  fs.writeFileSync(
    path.join(msd, 'dataset.json'),
    JSON.stringify({
      name: 'PROSTATE',
      tensorImageSize: '4D',
      modality: { 0: 'T2', 1: 'ADC' },
      labels: { 0: 'background', 1: 'PZ' },
      numTraining: 2,
      numTest: 1,
      training: ids.map((id) => ({ image: `./imagesTr/${id}.nii.gz`, label: `./labelsTr/${id}.nii.gz` })),
      test: ['./imagesTs/prostate_07.nii.gz'],
    }),
  );
  const ds = loadDataset(msd);
  assert.deepEqual(
    ds.cases.map((c) => c.id),
    ['prostate_00', 'prostate_02'],
  );
  assert.deepEqual(ds.channelNames, ['T2', 'ADC']);
  const c = ds.case('prostate_02');
  const f = path.join(msd, 'imagesTr/prostate_02.nii.gz');
  assert.deepEqual(c.imageFiles, [f]);
  assert.deepEqual(c.channels, [
    { file: f, index: 0 },
    { file: f, index: 1 },
  ]);
  const chans = await c.loadImage();
  assert.deepEqual(Array.from(chans[0].data), Array.from(vol(0).data));
  assert.deepEqual(Array.from(chans[1].data), Array.from(vol(10).data));

  const res = await convertMsdToV2(msd, path.join(root, 'raw'));
  assert.equal(path.basename(res.dir), 'Dataset005_Prostate', 'the name comes from the folder, the id from TaskXX');
  assert.deepEqual(fs.readdirSync(path.join(res.dir, 'imagesTr')).sort(), [
    'prostate_00_0000.nii.gz',
    'prostate_00_0001.nii.gz',
    'prostate_02_0000.nii.gz',
    'prostate_02_0001.nii.gz',
  ]);
  const ch1 = await readNifti(path.join(res.dir, 'imagesTr/prostate_02_0001.nii.gz'));
  assert.deepEqual(Array.from(ch1.data), Array.from(vol(10).data));
  assert.deepEqual([ch1.spacing, ch1.origin, ch1.direction], [vol(0).spacing, vol(0).origin, vol(0).direction]);
  assert.deepEqual(res.datasetJson.channel_names, { 0: 'T2', 1: 'ADC' });
  const v2 = loadDataset(res.dir);
  assert.equal(v2.numChannels, 2);
  assert.deepEqual(v2.testCases.map((t) => t.id), ['prostate_07']);
  const v2chans = await v2.case('prostate_02').loadImage();
  assert.deepEqual(Array.from(v2chans[1].data), Array.from(chans[1].data));
  fs.rmSync(root, { recursive: true, force: true });
});

test('v1 converted layout (listed x.nii.gz, stored x_0000.nii.gz) and v2 discovery ignore dot-files', async () => {
  const root = tmpDir();
  const t = path.join(root, 'Task007_Toy');
  fs.mkdirSync(path.join(t, 'imagesTr'), { recursive: true });
  fs.mkdirSync(path.join(t, 'labelsTr'));
  await writeNifti(path.join(t, 'imagesTr/toy_1_0000.nii.gz'), vol(1));
  await writeNifti(path.join(t, 'labelsTr/toy_1.nii.gz'), labelVol(1));
  fs.writeFileSync(
    path.join(t, 'dataset.json'),
    JSON.stringify({ modality: { 0: 'CT' }, labels: { 0: 'background', 1: 'x' }, training: [{ image: './imagesTr/toy_1.nii.gz', label: './labelsTr/toy_1.nii.gz' }], test: [] }),
  );
  const ds = loadDataset(t);
  assert.equal(ds.name, 'Task007_Toy', 'no name in dataset.json: the folder name');
  assert.deepEqual(ds.case('toy_1').channels, [{ file: path.join(t, 'imagesTr/toy_1_0000.nii.gz') }]);
  assert.equal((await ds.case('toy_1').loadImage()).length, 1);

  const d = path.join(root, 'Dataset008_Toy');
  fs.mkdirSync(path.join(d, 'imagesTr'), { recursive: true });
  fs.mkdirSync(path.join(d, 'labelsTr'));
  for (const id of ['b', 'a']) {
    await writeNifti(path.join(d, `imagesTr/${id}_0000.nii.gz`), vol(2));
    await writeNifti(path.join(d, `labelsTr/${id}.nii.gz`), labelVol(2));
  }
  fs.writeFileSync(path.join(d, 'imagesTr/._a_0000.nii.gz'), 'junk');
  fs.writeFileSync(
    path.join(d, 'dataset.json'),
    JSON.stringify({ channel_names: { 0: 'MRI' }, labels: { background: 0, tumor: 1, whole: [1, 2], edema: 2 }, numTraining: 2, file_ending: '.nii.gz' }),
  );
  const v2 = loadDataset(d);
  assert.deepEqual(v2.cases.map((c) => c.id), ['a', 'b']);
  assert.deepEqual(v2.problems, []);
  assert.deepEqual(v2.regions, { whole: [1, 2] });
  assert.equal(v2.numClasses, 4);
  assert.deepEqual(v2.declaredLabelIds(), [0, 1, 2]);
  assert.equal(v2.case('a').labelFile, path.join(d, 'labelsTr/a.nii.gz'));
  assert.equal(await readNiftiChannels(v2.case('a').channels[0].file).then((x) => x.length), 1);
  fs.rmSync(root, { recursive: true, force: true });
});

test('dataset.json problems: unusable files throw naming dataset.json; unsafe paths are refused, never resolved', () => {
  const root = tmpDir();
  assert.throws(() => loadDataset(path.join(root, 'nothing')), /nothing: dataset folder does not exist/);
  assert.throws(() => loadDataset(root), /dataset\.json: dataset\.json is missing/);
  fs.writeFileSync(path.join(root, 'dataset.json'), '{bad json');
  assert.throws(() => loadDataset(root), /dataset\.json: invalid JSON/);
  fs.writeFileSync(path.join(root, 'dataset.json'), JSON.stringify({ name: 'x' }));
  assert.throws(() => loadDataset(root), /neither an MSD\/v1 dataset\.json/);
  fs.writeFileSync(path.join(root, 'dataset.json'), JSON.stringify({ modality: { 1: 'CT' }, labels: { 0: 'bg' }, training: [] }));
  assert.throws(() => loadDataset(root), /'modality' keys must be 0\.\.0/);
  assert.equal(resolveInside(root, './imagesTr/a.nii.gz'), path.join(root, 'imagesTr/a.nii.gz'));
  assert.equal(resolveInside(root, '../secret.nii.gz'), null);
  assert.equal(resolveInside(root, 'imagesTr/../../x.nii.gz'), null);
  assert.equal(resolveInside(root, '/etc/passwd'), null);
  assert.equal(resolveInside(root, 'C:\\x.nii.gz'), null);
  fs.rmSync(root, { recursive: true, force: true });
});
