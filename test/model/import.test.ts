/**
 * `import-model` / `Model.import` and `predict --model` on the official v1 fixture: folder and .zip (as
 * nnUNet_export_model_to_zip lays it out), refusals that write nothing, and the CLI end to end on one case.
 */
import { after, before, describe, test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { zipSync } from 'fflate';
import { initBackend } from '../../sdk/network/backend';
import { readNifti } from '../../sdk/io/nifti';
import { runCli as run } from '../helpers/cli';
import { Model } from '../../sdk/model/model';

const FIX = path.resolve(__dirname, '../../../shared/fixtures/official/checkpoints/Task004_Hippocampus_v1_2d');
const MODEL = path.join(FIX, 'nnUNetTrainerV2__nnUNetPlansv2.1');
const IMAGES = path.resolve(__dirname, '../../../shared/data/Task04_Hippocampus/imagesTr');

let tmp: string;


before(async () => {
  process.env.NNUNET_PROGRESS = '0';
  await initBackend({ backend: process.env.NNUNET_BACKEND ? undefined : 'auto', log: false });
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'nnunet-ts-import-test-'));
});
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('import-model', () => {
  test('a v1 model folder: copied with a manifest, loadable by name; a second import of the name is refused', async () => {
    const store = path.join(tmp, 'store1');
    const r = await Model.import(MODEL, { modelsDir: store });
    assert.equal(r.name, 'Task004_Hippocampus_v1_2d_2d');
    const manifest = JSON.parse(fs.readFileSync(path.join(r.dir, 'model.json'), 'utf8'));
    assert.equal(manifest.configuration, '2d');
    assert.deepEqual(manifest.folds, ['fold_0']);
    for (const f of ['plans.pkl', 'fold_0/model_final_checkpoint.model', 'fold_0/model_final_checkpoint.model.pkl']) {
      assert.ok(fs.existsSync(path.join(r.dir, 'nnUNetTrainerV2__nnUNetPlansv2.1', f)), f);
    }
    const m = await Model.load(r.dir);
    assert.equal(m.configuration, '2d');
    m.dispose();
    await assert.rejects(Model.import(MODEL, { modelsDir: store }), /already imported/);
    const again = await Model.import(MODEL, { modelsDir: store, overwrite: true, name: 'hippo' });
    assert.equal(again.name, 'hippo');
  });

  test('a .zip laid out as nnUNet_export_model_to_zip writes it (nnUNet/2d/<task>/<trainer>__<plans>/...)', async () => {
    const prefix = 'nnUNet/2d/Task004_Hippocampus/nnUNetTrainerV2__nnUNetPlansv2.1';
    const files: Record<string, Uint8Array> = {};
    for (const f of ['plans.pkl', 'fold_0/model_final_checkpoint.model', 'fold_0/model_final_checkpoint.model.pkl', 'fold_0/postprocessing.json']) {
      files[`${prefix}/${f}`] = fs.readFileSync(path.join(MODEL, f));
    }
    const zip = path.join(tmp, 'Task004_Hippocampus.zip');
    fs.writeFileSync(zip, zipSync(files, { level: 0 }));
    const store = path.join(tmp, 'store2');
    const r = await Model.import(zip, { modelsDir: store });
    assert.equal(r.name, 'Task004_Hippocampus_2d');
    assert.ok(fs.existsSync(path.join(r.dir, 'model.json')));
    // a truncated zip is refused and nothing is written
    const cut = path.join(tmp, 'cut.zip');
    fs.writeFileSync(cut, fs.readFileSync(zip).subarray(0, 1_000_000));
    await assert.rejects(Model.import(cut, { modelsDir: store, name: 'cut' }), new RegExp(`${cut.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: corrupt or truncated zip archive`));
    assert.ok(!fs.existsSync(path.join(store, 'cut')));
  });

  test('a model with a corrupt checkpoint is refused naming the file; nothing is written', async () => {
    const bad = path.join(tmp, 'bad', 'nnUNetTrainerV2__nnUNetPlansv2.1');
    fs.mkdirSync(path.join(bad, 'fold_0'), { recursive: true });
    fs.copyFileSync(path.join(MODEL, 'plans.pkl'), path.join(bad, 'plans.pkl'));
    fs.copyFileSync(path.join(MODEL, 'fold_0/model_final_checkpoint.model.pkl'), path.join(bad, 'fold_0/model_final_checkpoint.model.pkl'));
    const ck = path.join(bad, 'fold_0/model_final_checkpoint.model');
    fs.writeFileSync(ck, fs.readFileSync(path.join(MODEL, 'fold_0/model_final_checkpoint.model')).subarray(0, 5_000_000));
    const store = path.join(tmp, 'store3');
    await assert.rejects(Model.import(bad, { modelsDir: store }), (e: Error) => e.message.startsWith(`${ck}: corrupt or truncated zip archive`));
    assert.ok(!fs.existsSync(store) || fs.readdirSync(store).length === 0, 'nothing written');
  });

  test('CLI: import-model then predict --model reproduces the official segmentation of one case', async () => {
    const store = path.join(tmp, 'store4');
    const imp = await run(['import-model', MODEL, '--name', 'hippo2d', '--models', store]);
    assert.equal(imp.code, 0, imp.err);
    assert.match(imp.out, /imported .* as 'hippo2d'/);
    const input = path.join(tmp, 'in');
    fs.mkdirSync(input);
    fs.symlinkSync(path.join(IMAGES, 'hippocampus_004.nii.gz'), path.join(input, 'hippocampus_004.nii.gz'));
    const out = path.join(tmp, 'out');
    const p = await run(['predict', '--model', 'hippo2d', '--models', store, '-i', input, '-o', out]);
    assert.equal(p.code, 0, p.err);
    assert.match(p.out, /predicted 1\/1 cases with 2d \(folds fold_0\)/);
    const ours = await readNifti(path.join(out, 'hippocampus_004.nii.gz'));
    const ref = await readNifti(path.join(FIX, 'official_predictions/hippocampus_004.nii.gz'));
    assert.deepEqual(Array.from(ours.data), Array.from(ref.data));
    const unknown = await run(['predict', '--model', 'nope', '--models', store, '-i', input, '-o', out]);
    assert.equal(unknown.code, 1);
    assert.match(unknown.err, /nope: neither a model folder nor a model imported into .* \(imported: hippo2d\)/);
    const usage = await run(['import-model']);
    assert.equal(usage.code, 2);
  });
});
