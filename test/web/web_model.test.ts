/**
 * The web app's Node side and its model format (issue 23), without a browser: a model trained here becomes a web
 * model whose in-memory prediction (predict_volume.ts, what the page runs) equals predictCases voxel for voxel; the
 * server serves only what it should; broken model files are refused naming the file.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { initBackend } from '../../sdk/network/backend';
import { trainFold } from '../../sdk/training/trainer';
import { readNifti, ZLIB_CODEC } from '../../sdk/io/nifti';
import { decodeNifti, encodeNifti } from '../../sdk/io/nifti_codec';
import { gzipCodecName, setGzipCodec } from '../../sdk/io/gzip';
import { predictCases } from '../../sdk/inference/predict';
import { predictVolume } from '../../sdk/inference/predict_volume';
import { PredictionCancelled } from '../../sdk/inference/sliding_window';
import { webModelFromTrained, webModelFromV2, writeWebModels, type ServedModel } from '../../sdk/model/web_model_files';
import { disposeWebModel, labelVolumesMl, loadAnyWebModel, loadWebModel, predictWebModel } from '../../sdk/model/web_model';
import { Model } from '../../sdk/model/model';
import type { ModelV2 } from '../../sdk/model/model_v2';
import { HIPPOCAMPUS_DIR } from '../helpers/synthlung';
import type { WeightsManifest } from '../../sdk/network/weights_codec';
import { serveWebApp, type WebServer } from '../../web/server';
import { tinyTask, tinyTrainOptions, type TinyTask } from '../training/trainer_fixture';
import { runCli } from '../helpers/cli';

describe('web model and server', () => {
  let task: TinyTask;
  let out: string;
  let served: ServedModel;
  let modelFolder: string;

  before(async () => {
    await initBackend({ backend: 'wasm', log: false });
    task = await tinyTask();
    out = fs.mkdtempSync(path.join(os.tmpdir(), 'nnunet-web-'));
    modelFolder = path.join(out, 'model');
    await trainFold(tinyTrainOptions(task, modelFolder, '3d_fullres', 'fold_0', { epochs: 2 }));
    served = await webModelFromTrained({ name: 'Tiny 3d_fullres', plans: task.plans, configuration: '3d_fullres', modelFolder, dataset: task.dataset });
  });
  after(() => fs.rmSync(out, { recursive: true, force: true }));

  test('the manifest: labels and channels from dataset.json, one fold blob, our weights layout', () => {
    const m = served.manifest;
    assert.equal(served.id, 'Tiny_3d_fullres');
    assert.deepEqual(m.labels, { '0': 'background', '1': 'ball', '2': 'box' });
    assert.deepEqual(m.channels, { '0': 'MRI' });
    assert.deepEqual(Object.keys(m.colors), ['0', '1', '2']);
    assert.deepEqual(m.folds.map((f) => f.name), ['fold_0']);
    assert.equal(m.folds[0].weights.blob, 'fold_0.bin');
    assert.equal(served.blobs.get('fold_0.bin')!.byteLength, (m.folds[0].weights as WeightsManifest).parameterCount * 4);
  });

  test('the page pipeline (loadWebModel + predictVolume) equals predictCases voxel for voxel, with the geometry', async () => {
    const id = task.val[0];
    const image = await readNifti(path.join(task.dataset.dir, 'imagesTr', `${id}.nii.gz`));
    const pred = path.join(out, 'pred');
    await predictCases({ plans: task.plans, configuration: '3d_fullres', modelFolder, input: [{ id, images: [image] }], outputDir: pred, progress: false });
    const node = await readNifti(path.join(pred, `${id}.nii.gz`));
    // the page decodes the file with the Node-free codec and fflate, as in a browser
    const prev = gzipCodecName();
    assert.equal(prev, 'zlib');
    const bytes = fs.readFileSync(path.join(task.dataset.dir, 'imagesTr', `${id}.nii.gz`));
    const { gunzipSync, gzipSync } = await import('fflate');
    setGzipCodec({ name: 'fflate', gunzip: async (b) => gunzipSync(b), gzip: async (b, level) => gzipSync(b, { level: level as 1 }) });
    try {
      const file = await decodeNifti(bytes, `${id}.nii.gz`);
      const model = await loadWebModel(JSON.parse(JSON.stringify(served.manifest)), async (f) => served.blobs.get(f)!);
      let calls = 0;
      const r = await predictVolume(file.volumes, model, { onProgress: () => void calls++ });
      model.nets.forEach((n) => n.dispose());
      assert.ok(calls > 0);
      assert.deepEqual(Array.from(r.segmentation.data), Array.from(node.data));
      assert.ok(r.segmentation.data.some((v) => v > 0), 'the tiny model predicts some foreground');
      const back = (await decodeNifti(await encodeNifti(r.segmentation, { dtype: 'uint8', gzip: true }), 'seg')).volumes[0];
      for (const k of ['shape', 'spacing', 'origin', 'direction'] as const) assert.deepEqual(back[k], node[k], k);
      const vols = labelVolumesMl(r.segmentation.data, r.segmentation.spacing, served.manifest.labels);
      assert.deepEqual(vols.map((v) => v.name), ['ball', 'box']);
      const vox = r.segmentation.spacing.reduce((a, b) => a * b, 1);
      assert.equal(vols[0].ml, (r.segmentation.data.filter((v) => v === 1).length * vox) / 1000);
    } finally {
      setGzipCodec(ZLIB_CODEC);
    }
  });

  test('an aborted signal stops the sliding window with PredictionCancelled', async () => {
    const image = await readNifti(path.join(task.dataset.dir, 'imagesTr', `${task.val[0]}.nii.gz`));
    const model = await loadWebModel(served.manifest, async (f) => served.blobs.get(f)!);
    const ac = new AbortController();
    await assert.rejects(
      predictVolume([image], model, { signal: ac.signal, onProgress: () => ac.abort() }),
      (e: Error) => e instanceof PredictionCancelled,
    );
    await assert.rejects(predictVolume([image, image], model), /expects 1 image channel\(s\), the input has 2/);
    model.nets.forEach((n) => n.dispose());
  });

  test('broken web models are refused naming the file and the tensor', async () => {
    const m = served.manifest;
    const blob = served.blobs.get('fold_0.bin')!;
    await assert.rejects(loadWebModel(m, async () => blob.subarray(0, 100), 'models/x'), /models\/x\/fold_0\.bin: truncated \(tensor .* needs bytes up to \d+, file has 100\)/);
    await assert.rejects(loadWebModel({ ...m, format: 'other' as never }, async () => blob, 'models/x'), /models\/x: not an nnunet-ts web model/);
    const badTensor = structuredClone(m);
    badTensor.folds[0].weights.tensors[0].shape = [1, 2, 3];
    await assert.rejects(loadWebModel(badTensor, async () => blob, 'models/x'), /tensor list does not match the architecture's parameters/);
    await assert.rejects(loadWebModel({ ...m, configuration: '3d_nope' }, async () => blob, 'models/x'), /3d_nope/);
  });

  describe('server', () => {
    let server: WebServer;
    let app: string;
    before(async () => {
      app = path.join(out, 'app');
      fs.mkdirSync(path.join(app, 'wasm'), { recursive: true });
      fs.writeFileSync(path.join(app, 'index.html'), '<!doctype html><title>t</title>');
      fs.writeFileSync(path.join(app, 'wasm', 'x.wasm'), Buffer.from([0, 97, 115, 109]));
      fs.writeFileSync(path.join(out, 'secret.txt'), 'not served');
      server = await serveWebApp({ appDir: app, models: [served], port: 0 });
    });
    after(() => server.close());

    test('serves the app, the models index, model.json and blobs on 127.0.0.1', async () => {
      assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
      const index = await fetch(server.url);
      assert.equal(index.status, 200);
      assert.match(index.headers.get('content-type')!, /text\/html/);
      assert.equal((await fetch(`${server.url}wasm/x.wasm`)).headers.get('content-type'), 'application/wasm');
      assert.deepEqual(await (await fetch(`${server.url}models/index.json`)).json(), {
        models: [{ id: 'Tiny_3d_fullres', name: 'Tiny 3d_fullres', description: served.manifest.description }],
      });
      const mj = await (await fetch(`${server.url}models/Tiny_3d_fullres/model.json`)).json();
      assert.deepEqual(mj, JSON.parse(JSON.stringify(served.manifest)));
      const b = new Uint8Array(await (await fetch(`${server.url}models/Tiny_3d_fullres/fold_0.bin`)).arrayBuffer());
      assert.deepEqual(b, served.blobs.get('fold_0.bin'));
    });

    test('nothing outside the app folder, no unknown model, no writes', async () => {
      for (const p of ['..%2fsecret.txt', '%2e%2e/secret.txt', 'models/nope/model.json', 'models/Tiny_3d_fullres/..%2f..%2fsecret.txt', '.hidden']) {
        const r = await fetch(`${server.url}${p}`);
        assert.equal(r.status, 404, p);
        assert.doesNotMatch(await r.text(), /not served/);
      }
      assert.equal((await fetch(`${server.url}models/index.json`, { method: 'POST', body: 'x' })).status, 405);
    });
  });

  test('an official v2 model (ResidualEncoderUNet) as a web model predicts what ModelV2.predict does, voxel for voxel', async () => {
    const dir = path.resolve(__dirname, '../fixtures/v2_models/Dataset004_Hippocampus/nnUNetTrainer__nnUNetResEncUNetMPlans__2d');
    const model = (await Model.load(dir)) as ModelV2;
    const v2served = await webModelFromV2(model, { name: 'resenc' });
    const file = path.join(HIPPOCAMPUS_DIR, 'imagesTr', 'hippocampus_001.nii.gz');
    try {
      const ref = (await model.predict(file)).segmentation;
      assert.equal(v2served.manifest.pipeline, 'v2');
      assert.equal(v2served.manifest.source, 'nnunet-v2');
      // through JSON, as the page receives it
      const m = await loadAnyWebModel(JSON.parse(JSON.stringify(v2served.manifest)), async (f) => v2served.blobs.get(f)!, 'models/resenc');
      const img = await readNifti(file);
      const r = await predictWebModel([img], m, {});
      disposeWebModel(m);
      assert.deepEqual(Array.from(r.segmentation.data), Array.from(ref.data));
      assert.ok(ref.data.some((v) => v > 0));
      assert.deepEqual(r.segmentation.spacing, ref.spacing);
      await assert.rejects(loadAnyWebModel(v2served.manifest, async (f) => v2served.blobs.get(f)!.subarray(0, 64), 'models/resenc'), /models\/resenc\/fold_0\.bin: truncated/);
    } finally {
      model.dispose();
    }
  });

  test('serve --export writes the built app and the models as static files; bad flag combinations are usage errors', async () => {
    const site = path.join(out, 'site');
    const v2dir = path.resolve(__dirname, '../fixtures/v2_models/Dataset004_Hippocampus/nnUNetTrainer__nnUNetPlans__2d');
    const r = await runCli(['serve', '--model', v2dir, '--export', site, '--work', path.join(out, 'work')]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /wrote the web app and 1 model\(s\)/);
    for (const f of ['index.html', 'style.css', 'app.js', 'wasm/tfjs-backend-wasm-simd.wasm', 'models/index.json', 'models/nnUNetTrainer__nnUNetPlans__2d/model.json', 'models/nnUNetTrainer__nnUNetPlans__2d/fold_0.bin']) {
      assert.ok(fs.existsSync(path.join(site, f)), f);
    }
    // no CDN: the page loads only its own files
    const html = fs.readFileSync(path.join(site, 'index.html'), 'utf8');
    assert.doesNotMatch(html, /https?:\/\//);
    assert.equal((await runCli(['serve', '-c', '2d'])).code, 2);
    assert.equal((await runCli(['serve', '-t', task.dataset.dir])).code, 2);
  });

  test('the static export writes the same tree (models/index.json, model.json, blobs)', async () => {
    const dir = path.join(out, 'static');
    await writeWebModels(dir, [served]);
    assert.deepEqual(JSON.parse(fs.readFileSync(path.join(dir, 'models', 'index.json'), 'utf8')).models[0].id, 'Tiny_3d_fullres');
    assert.deepEqual(new Uint8Array(fs.readFileSync(path.join(dir, 'models', 'Tiny_3d_fullres', 'fold_0.bin'))), served.blobs.get('fold_0.bin'));
    assert.equal(JSON.parse(fs.readFileSync(path.join(dir, 'models', 'Tiny_3d_fullres', 'model.json'), 'utf8')).format, 'nnunet-ts-web-model');
  });
});
