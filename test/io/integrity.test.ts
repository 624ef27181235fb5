import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { loadDataset, DatasetProblem } from '../../sdk/io/dataset';
import { verifyDatasetIntegrity } from '../../sdk/io/integrity';
import { writeNifti } from '../../sdk/io/nifti';
import { makeVolume, Volume } from '../../sdk/io/volume';
import { ensureSynthLung } from '../helpers/synthlung';

const HIPPO = path.resolve(__dirname, '../../../shared/data/Task04_Hippocampus');
process.env.NNUNET_PROGRESS = '0'; // no progress lines in the test log

function tmpDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'nnunet-ts-integrity-'));
}

const GEO = { spacing: [2, 0.75, 0.75] as [number, number, number], origin: [10, -20, 30] as [number, number, number] };

function image(seed = 0, shape: [number, number, number] = [3, 4, 5], geo: Partial<Volume> = {}): Volume {
  const n = shape[0] * shape[1] * shape[2];
  return { ...makeVolume(Float32Array.from({ length: n }, (_, i) => ((i + seed) % 17) * 1.5), shape, GEO), ...geo } as Volume;
}

function label(values: number[] = [0, 1, 2], shape: [number, number, number] = [3, 4, 5], geo: Partial<Volume> = {}): Volume {
  const n = shape[0] * shape[1] * shape[2];
  return { ...makeVolume(Uint8Array.from({ length: n }, (_, i) => values[i % values.length]), shape, GEO), ...geo } as Volume;
}

/** A small valid MSD dataset with cases c1..cN; `tweak` may overwrite files or dataset.json afterwards. */
async function makeMsd(root: string, n = 3, modality: Record<string, string> = { 0: 'CT' }): Promise<Record<string, unknown>> {
  fs.mkdirSync(path.join(root, 'imagesTr'), { recursive: true });
  fs.mkdirSync(path.join(root, 'labelsTr'), { recursive: true });
  fs.mkdirSync(path.join(root, 'imagesTs'), { recursive: true });
  const ids = Array.from({ length: n }, (_, i) => `case_${i + 1}`);
  const nch = Object.keys(modality).length;
  for (const [k, id] of ids.entries()) {
    await writeNifti(path.join(root, 'imagesTr', `${id}.nii.gz`), nch > 1 ? Array.from({ length: nch }, (_, c) => image(k + c)) : image(k));
    await writeNifti(path.join(root, 'labelsTr', `${id}.nii.gz`), label());
  }
  await writeNifti(path.join(root, 'imagesTs', 'case_9.nii.gz'), nch > 1 ? Array.from({ length: nch }, () => image(9)) : image(9));
  const json = {
    name: 'Toy',
    modality,
    labels: { 0: 'background', 1: 'a', 2: 'b' },
    numTraining: n,
    training: ids.map((id) => ({ image: `./imagesTr/${id}.nii.gz`, label: `./labelsTr/${id}.nii.gz` })),
    test: ['./imagesTs/case_9.nii.gz'],
  };
  fs.writeFileSync(path.join(root, 'dataset.json'), JSON.stringify(json));
  return json;
}

function hashTree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string): void => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out[path.relative(dir, p)] = crypto.createHash('sha256').update(fs.readFileSync(p)).digest('hex') + ':' + fs.statSync(p).mtimeMs;
    }
  };
  walk(dir);
  return out;
}

function kinds(problems: DatasetProblem[]): string[] {
  return problems.map((p) => `${p.kind}:${p.caseId ?? '-'}`);
}

async function problemsOf(root: string): Promise<DatasetProblem[]> {
  return (await verifyDatasetIntegrity(loadDataset(root))).problems;
}

test('real datasets pass: all 200 hippocampus cases (label values 0,1,2) and the synthetic lung; raw files untouched', async () => {
  const before = hashTree(HIPPO);
  const r = await verifyDatasetIntegrity(loadDataset(HIPPO), { throwOnError: true });
  assert.equal(r.ok, true);
  assert.equal(r.casesChecked, 200);
  assert.equal(r.filesChecked, 400);
  assert.deepEqual(r.labelValuesFound, [0, 1, 2]);
  assert.deepEqual(hashTree(HIPPO), before);
  const lung = await verifyDatasetIntegrity(loadDataset(await ensureSynthLung()));
  assert.deepEqual(lung.problems, []);
  assert.equal(lung.casesChecked, 9);
  assert.deepEqual(lung.labelValuesFound, [0, 1]);
});

test('a valid toy dataset passes and is not modified', async () => {
  const root = tmpDir();
  await makeMsd(root);
  fs.writeFileSync(path.join(root, 'imagesTr', '._case_1.nii.gz'), 'macOS resource fork'); // ignored
  const before = hashTree(root);
  const r = await verifyDatasetIntegrity(loadDataset(root), { throwOnError: true });
  assert.deepEqual(r.problems, []);
  assert.equal(r.casesChecked, 4);
  assert.deepEqual(hashTree(root), before);
  fs.rmSync(root, { recursive: true, force: true });
});

test('missing and unreadable files are named with their case', async () => {
  const root = tmpDir();
  await makeMsd(root);
  fs.rmSync(path.join(root, 'imagesTr/case_1.nii.gz'));
  fs.rmSync(path.join(root, 'labelsTr/case_2.nii.gz'));
  fs.writeFileSync(path.join(root, 'labelsTr/case_3.nii.gz'), Buffer.from('garbage, not gzip, not nifti'));
  const p = await problemsOf(root);
  assert.deepEqual(kinds(p), ['missing_file:case_1', 'missing_file:case_2', 'unreadable_file:case_3']);
  assert.match(p[0].message, /case case_1: .*imagesTr\/case_1\.nii\.gz: file does not exist/);
  assert.match(p[1].message, /labelsTr\/case_2\.nii\.gz: file does not exist/);
  assert.match(p[2].message, /case case_3: .*labelsTr\/case_3\.nii\.gz: not a NIfTI file/);
  fs.rmSync(root, { recursive: true, force: true });
});

test('image/label geometry mismatches: shape, spacing, origin, direction', async () => {
  const root = tmpDir();
  await makeMsd(root, 4);
  await writeNifti(path.join(root, 'labelsTr/case_1.nii.gz'), label([0, 1], [3, 4, 6]));
  await writeNifti(path.join(root, 'labelsTr/case_2.nii.gz'), label([0, 1], [3, 4, 5], { spacing: [2.5, 0.75, 0.75] }));
  await writeNifti(path.join(root, 'labelsTr/case_3.nii.gz'), label([0, 1], [3, 4, 5], { origin: [10, -20, 31] }));
  await writeNifti(path.join(root, 'labelsTr/case_4.nii.gz'), label([0, 1], [3, 4, 5], { direction: [-1, 0, 0, 0, 1, 0, 0, 0, 1] }));
  const p = await problemsOf(root);
  assert.deepEqual(kinds(p), ['shape_mismatch:case_1', 'spacing_mismatch:case_2', 'origin_mismatch:case_3', 'direction_mismatch:case_4']);
  assert.match(p[0].message, /labelsTr\/case_1\.nii\.gz: shape \(3, 4, 6\) differs from \(3, 4, 5\)/);
  assert.match(p[1].message, /spacing \(2\.5, 0\.75, 0\.75\) differs from \(2, 0\.75, 0\.75\)/);
  // tiny float differences are not mismatches (np.isclose)
  await writeNifti(path.join(root, 'labelsTr/case_2.nii.gz'), label([0, 1], [3, 4, 5], { spacing: [2.000001, 0.75, 0.75] }));
  assert.ok(!kinds(await problemsOf(root)).includes('spacing_mismatch:case_2'));
  fs.rmSync(root, { recursive: true, force: true });
});

test('label values not declared in dataset.json (including non-integers) and NaN/Inf image voxels', async () => {
  const root = tmpDir();
  await makeMsd(root);
  await writeNifti(path.join(root, 'labelsTr/case_1.nii.gz'), label([0, 1, 3]));
  const fl = label([0, 1]);
  await writeNifti(path.join(root, 'labelsTr/case_2.nii.gz'), { ...fl, data: Float32Array.from(fl.data, (x) => (x ? 1.5 : 0)) });
  const bad = image(0);
  bad.data[7] = NaN;
  bad.data[8] = Infinity;
  await writeNifti(path.join(root, 'imagesTr/case_3.nii.gz'), bad);
  const p = await problemsOf(root);
  assert.deepEqual(kinds(p), ['unexpected_label:case_1', 'unexpected_label:case_2', 'non_finite:case_3']);
  assert.match(p[0].message, /labelsTr\/case_1\.nii\.gz: label value\(s\) 3 not declared in dataset\.json \(declared: 0, 1, 2\)/);
  assert.match(p[1].message, /label value\(s\) 1\.5 not declared/);
  assert.match(p[2].message, /imagesTr\/case_3\.nii\.gz: 2 NaN\/Inf voxel\(s\)/);
  fs.rmSync(root, { recursive: true, force: true });
});

test('dataset.json problems: duplicate ids, paths outside the folder, labels not consecutive, unlisted files', async () => {
  const root = tmpDir();
  const json = await makeMsd(root);
  const outside = path.join(path.dirname(root), `${path.basename(root)}-outside.nii.gz`);
  await writeNifti(outside, image(0));
  const training = json.training as { image: string; label: string }[];
  training.push({ ...training[0] }); // duplicate case_1
  training.push({ image: '../' + path.basename(outside), label: './labelsTr/case_2.nii.gz' });
  training.push({ image: outside, label: './labelsTr/case_2.nii.gz' });
  training.splice(2, 1); // case_3 no longer listed: its files become stragglers
  json.labels = { 0: 'background', 1: 'a', 3: 'c' };
  fs.writeFileSync(path.join(root, 'dataset.json'), JSON.stringify(json));
  const ds = loadDataset(root);
  assert.ok(!ds.cases.some((c) => c.imageFiles.includes(outside)), 'unsafe entries are never turned into readable cases');
  const p = (await verifyDatasetIntegrity(ds)).problems;
  const k = kinds(p);
  assert.ok(k.includes('bad_dataset_json:-'), k.join());
  assert.equal(k.filter((x) => x === 'unsafe_path:' + path.basename(outside, '.nii.gz')).length, 2);
  assert.ok(k.includes('duplicate_case:case_1'));
  assert.equal(k.filter((x) => x === 'unlisted_file:-').length, 2);
  assert.ok(p.some((x) => /labels must be consecutive integers starting at 0 .*got 0, 1, 3/.test(x.message)));
  assert.ok(p.some((x) => /training\[3\] .* points outside the dataset folder: '\.\.\//.test(x.message)));
  assert.ok(p.some((x) => /imagesTr\/case_3\.nii\.gz: not listed in dataset\.json/.test(x.message)));
  // case_2's label declares only 0..2 and 3 is now declared while 2 is not: label value 2 is unexpected
  assert.ok(k.includes('unexpected_label:case_2'));
  fs.rmSync(root, { recursive: true, force: true });
  fs.rmSync(outside, { force: true });
});

test('channel count: a 4D MSD file with the wrong number of channels, a v2 case with a missing or extra channel file', async () => {
  const root = tmpDir();
  const msd = path.join(root, 'msd');
  await makeMsd(msd, 2, { 0: 'T2', 1: 'ADC' });
  await writeNifti(path.join(msd, 'imagesTr/case_1.nii.gz'), [image(1), image(2), image(3)]);
  await writeNifti(path.join(msd, 'imagesTr/case_2.nii.gz'), image(1)); // 3D where two channels are declared
  const p = await problemsOf(msd);
  assert.deepEqual(kinds(p), ['channel_count:case_1', 'channel_count:case_2']);
  assert.match(p[0].message, /case_1\.nii\.gz: has 3 channel\(s\) but dataset\.json declares 2 \(T2, ADC\)/);

  const v2 = path.join(root, 'Dataset001_X');
  fs.mkdirSync(path.join(v2, 'imagesTr'), { recursive: true });
  fs.mkdirSync(path.join(v2, 'labelsTr'));
  for (const id of ['a', 'b']) {
    await writeNifti(path.join(v2, `imagesTr/${id}_0000.nii.gz`), image(0));
    await writeNifti(path.join(v2, `labelsTr/${id}.nii.gz`), label([0, 1]));
  }
  await writeNifti(path.join(v2, 'imagesTr/a_0001.nii.gz'), image(0));
  await writeNifti(path.join(v2, 'imagesTr/b_0002.nii.gz'), image(0));
  fs.writeFileSync(
    path.join(v2, 'dataset.json'),
    JSON.stringify({ channel_names: { 0: 'T1', 1: 'T2' }, labels: { background: 0, x: 1 }, numTraining: 3, file_ending: '.nii.gz' }),
  );
  const q = await problemsOf(v2);
  assert.deepEqual(kinds(q), ['num_training_mismatch:-', 'channel_count:b', 'missing_file:b']);
  assert.match(q[1].message, /imagesTr\/b: has channel file\(s\) _0002 but dataset\.json declares 2 channel\(s\)/);
  assert.match(q[2].message, /imagesTr\/b_0001\.nii\.gz: file does not exist/);
  fs.rmSync(root, { recursive: true, force: true });
});

test('every problem is reported, and throwOnError throws one error listing all of them; raw files unchanged', async () => {
  const root = tmpDir();
  await makeMsd(root, 4);
  fs.rmSync(path.join(root, 'labelsTr/case_1.nii.gz'));
  await writeNifti(path.join(root, 'labelsTr/case_2.nii.gz'), label([0, 5]));
  await writeNifti(path.join(root, 'labelsTr/case_3.nii.gz'), label([0, 1], [3, 4, 5], { origin: [0, 0, 0] }));
  const bad = image(0);
  bad.data[0] = NaN;
  await writeNifti(path.join(root, 'imagesTs/case_9.nii.gz'), bad);
  const before = hashTree(root);
  const ds = loadDataset(root);
  const r = await verifyDatasetIntegrity(ds);
  assert.equal(r.ok, false);
  assert.deepEqual(kinds(r.problems), ['missing_file:case_1', 'unexpected_label:case_2', 'origin_mismatch:case_3', 'non_finite:case_9']);
  await assert.rejects(verifyDatasetIntegrity(ds, { throwOnError: true }), (e: Error) => {
    assert.match(e.message, /4 problem\(s\)/);
    for (const p of r.problems) assert.ok(e.message.includes(p.message), p.message);
    return true;
  });
  // test cases can be skipped
  assert.equal((await verifyDatasetIntegrity(ds, { checkTestCases: false })).problems.length, 3);
  assert.deepEqual(hashTree(root), before);
  fs.rmSync(root, { recursive: true, force: true });
});
