// reference suite: Chromium (kernel-setup/install.sh) -- the web app (nnunet-ts serve) segments a hippocampus case in a real browser: WASM voxel for voxel and WebGPU on >= 99.9 % of voxels as Node predicts it; bad input and cancel
/// <reference lib="dom" />
/**
 * Issue 23's browser test. A small hippocampus 2d model is trained here (8 cases, 8 base features), Node predicts a
 * held-out case with it, `nnunet-ts serve` (the real command, a child process) serves it, and headless Chromium
 * (playwright-core, Debian's chromium) opens the page, loads the case through the file input, segments it and
 * downloads the result. WebGPU runs on Chromium's SwiftShader adapter (--enable-unsafe-webgpu), CPU only: slow,
 * correctness only. The viewer's screenshot is kept in .cache/web-app-test/ (README's image is one of them).
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import type { Browser, Page } from 'playwright-core';
import { Task } from '../../sdk/task';
import { loadPlans } from '../../sdk/planning/plans_files';
import { predictCases } from '../../sdk/inference/predict';
import { readNifti, readNiftiChannels, writeNifti } from '../../sdk/io/nifti';
import { decodeNifti } from '../../sdk/io/nifti_codec';
import type { Volume } from '../../sdk/io/volume';
import { initBackend } from '../../sdk/network/backend';
import { CHROMIUM_ARGS, chromiumPath } from '../../sdk/viz/render';
import { hippocampusSubset } from '../helpers/hippocampus_subset';
import { Model } from '../../sdk/model/model';

const ROOT = path.resolve(__dirname, '..', '..');
const OUT = path.join(ROOT, '.cache', 'web-app-test');
const PLANS = 'nnUNetPlansv2.1_web';
// an nnU-Net v2 model folder (ResidualEncoderUNet, made with PyTorch: test/fixtures/v2_models/README.md)
const V2_DIR = path.join(ROOT, 'test/fixtures/v2_models/Dataset004_Hippocampus/nnUNetTrainer__nnUNetResEncUNetMPlans__2d');

test('setup: Chromium is installed', () => {
  assert.ok(fs.existsSync(chromiumPath()), `no Chromium at ${chromiumPath()} (kernel-setup/install.sh)`);
});

describe('web app in Chromium', () => {
  let work: string;
  let caseFile: string;
  let caseId: string;
  const node: Record<string, Volume> = {};
  let server: ChildProcess;
  let url: string;
  let browser: Browser;
  let page: Page;

  before(async () => {
    process.env.NNUNET_PROGRESS = '0';
    fs.rmSync(OUT, { recursive: true, force: true });
    work = path.join(OUT, 'work');
    fs.mkdirSync(work, { recursive: true });
    await initBackend({ backend: 'wasm', log: false });
    const dir = hippocampusSubset(work, { numTraining: 8, numTest: 1 });
    const workDir = path.join(work, 'nnunet');
    const task = Task.load(dir, { workDir, threads: 1 });
    const fold = await task.fingerprint().plan().fold(0);
    const plans = fold.plans.override({ '2d': { batch_size: 8, UNet_base_num_features: 8 } }, { plansName: PLANS });
    await plans.fold(0).train({ configuration: '2d', epochs: 40, iterationsPerEpoch: 10, validationIterations: 1, validate: false, seed: 3, numThreads: 0, gradientWorkers: 0 });
    const t = await Task.load(dir, { workDir });
    const modelFolder = t.modelFolder('2d', PLANS);
    const modelPlans = loadPlans(path.join(modelFolder, 'plans.json'));
    caseId = fs.readdirSync(path.join(dir, 'imagesTs'))[0].replace(/\.nii\.gz$/, '');
    caseFile = path.join(dir, 'imagesTs', `${caseId}.nii.gz`);
    const image = await readNifti(caseFile);
    for (const tta of [true, false]) {
      const o = path.join(work, tta ? 'node_tta' : 'node_notta');
      await predictCases({ plans: modelPlans, configuration: '2d', modelFolder, input: [{ id: caseId, images: [image] }], outputDir: o, mirroring: tta, progress: false });
      node[tta ? 'tta' : 'notta'] = await readNifti(path.join(o, `${caseId}.nii.gz`));
    }
    // bad inputs
    fs.writeFileSync(path.join(work, 'notes.nii.gz'), 'these are not voxels\n');
    const bytes = fs.readFileSync(caseFile);
    fs.writeFileSync(path.join(work, 'truncated.nii.gz'), bytes.subarray(0, Math.floor(bytes.length / 2)));
    await writeNifti(path.join(work, 'two_channels.nii.gz'), [image, image]);
    assert.equal((await readNiftiChannels(path.join(work, 'two_channels.nii.gz'))).length, 2);

    server = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', path.join(ROOT, 'sdk/cli/main.ts'), 'serve', '-t', dir, '-c', '2d', '-p', PLANS, '--model', V2_DIR, '--port', '0', '--work', workDir], {
      cwd: ROOT,
      env: { ...process.env, TS_NODE_TRANSPILE_ONLY: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let log = '';
    url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`serve did not start in 120 s:\n${log}`)), 120_000);
      const onData = (d: Buffer) => {
        log += d.toString();
        const m = /nnunet-ts web app: (http:\/\/127\.0\.0\.1:\d+\/)/.exec(log);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]);
        }
      };
      server.stdout!.on('data', onData);
      server.stderr!.on('data', onData);
      server.once('exit', (c) => reject(new Error(`serve exited with ${c}:\n${log}`)));
    });
    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({
      executablePath: chromiumPath(),
      headless: true,
      // WebGPU on SwiftShader; WebGL (the viewer) on ANGLE's SwiftShader
      args: [...CHROMIUM_ARGS, '--enable-unsafe-webgpu', '--enable-unsafe-swiftshader', '--use-angle=swiftshader'],
    });
  });

  after(async () => {
    await browser?.close();
    server?.kill('SIGTERM');
  });

  async function open(backend: string, model = 'Hippocampus_2d'): Promise<Page> {
    const p = await browser.newPage({ viewport: { width: 1280, height: 800 }, acceptDownloads: true });
    p.on('pageerror', (e) => console.log(`# page error: ${e.message}`));
    await p.goto(`${url}?backend=${backend}&model=${model}`);
    await p.waitForFunction(() => ['ready', 'error'].includes(document.body.dataset.state ?? ''), null, { timeout: 120_000 });
    const info = await p.textContent('#backend-info');
    assert.match(info ?? '', new RegExp(`^backend: ${backend}`), `the page runs on ${backend}: ${info}; error: ${await p.textContent('#error')}`);
    return p;
  }

  async function load(p: Page, file: string): Promise<void> {
    await p.evaluate(() => (document.body.dataset.state = 'loading'));
    await p.setInputFiles('#file', file);
    await p.waitForFunction(() => ['ready', 'error'].includes(document.body.dataset.state ?? ''), null, { timeout: 60_000 });
  }

  async function segment(p: Page, tta: boolean, timeoutMs: number): Promise<{ seg: Volume; seconds: number }> {
    await p.setChecked('#tta', tta);
    await p.click('#run');
    await p.waitForFunction(() => ['done', 'error', 'cancelled'].includes(document.body.dataset.state ?? ''), null, { timeout: timeoutMs });
    assert.equal(await p.evaluate(() => document.body.dataset.state), 'done', `error: ${await p.textContent('#error')}`);
    const [download] = await Promise.all([p.waitForEvent('download'), p.click('#download')]);
    assert.equal(download.suggestedFilename(), `${caseId}_seg.nii.gz`);
    const file = path.join(OUT, `downloaded_${Date.now()}.nii.gz`);
    await download.saveAs(file);
    const seg = (await decodeNifti(fs.readFileSync(file), file)).volumes[0];
    const seconds = await p.evaluate(() => (window as unknown as { nnunetApp: { result: { seconds: number } } }).nnunetApp.result.seconds);
    return { seg, seconds };
  }

  function agreement(a: Volume, b: Volume): number {
    let same = 0;
    for (let i = 0; i < a.data.length; i++) if (a.data[i] === b.data[i]) same++;
    return same / a.data.length;
  }

  test('bad input: not NIfTI, truncated gzip, two channels for a one-channel model; the page says so and stays usable', async () => {
    page = await open('wasm');
    assert.match((await page.textContent('#model-info')) ?? '', /Hippocampus.*2d \(nnU-Net v1 pipeline\).*labels: Anterior, Posterior/);
    await load(page, path.join(work, 'notes.nii.gz'));
    assert.match((await page.textContent('#error')) ?? '', /notes\.nii\.gz: not a NIfTI file/);
    assert.equal(await page.isDisabled('#run'), true);
    await load(page, path.join(work, 'truncated.nii.gz'));
    assert.match((await page.textContent('#error')) ?? '', /truncated\.nii\.gz: corrupt gzip stream/);
    await load(page, path.join(work, 'two_channels.nii.gz'));
    assert.match((await page.textContent('#image-info')) ?? '', /2 channels/);
    await page.click('#run');
    await page.waitForFunction(() => document.body.dataset.state === 'error', null, { timeout: 60_000 });
    assert.match((await page.textContent('#error')) ?? '', /expects 1 image channel\(s\), the input has 2/);
    // still usable: the real case loads and its run is checked next
    await load(page, caseFile);
    assert.equal(await page.isHidden('#error'), true);
    assert.equal(await page.isEnabled('#run'), true);
  });

  test('cancel stops a running prediction; the app stays usable', async () => {
    await page.setChecked('#tta', true);
    await page.click('#run');
    await page.waitForFunction(() => Number((document.getElementById('progress') as HTMLProgressElement).value) > 0, null, { timeout: 60_000 });
    await page.click('#cancel');
    await page.waitForFunction(() => document.body.dataset.state !== 'running', null, { timeout: 60_000 });
    assert.equal(await page.evaluate(() => document.body.dataset.state), 'cancelled');
    assert.equal(await page.textContent('#status'), 'cancelled');
  });

  test('WASM with mirroring TTA: the downloaded segmentation equals the Node prediction voxel for voxel, with its geometry', async () => {
    const { seg, seconds } = await segment(page, true, 300_000);
    const ref = node.tta;
    for (const k of ['shape', 'spacing', 'origin', 'direction'] as const) assert.deepEqual(seg[k], ref[k], k);
    const diff = ref.data.length - Math.round(agreement(seg, ref) * ref.data.length);
    console.log(`# wasm: ${seconds.toFixed(1)} s in the page, ${diff} of ${ref.data.length} voxels differ; labels ${[1, 2].map((k) => seg.data.filter((v) => v === k).length)}`);
    assert.deepEqual(Array.from(seg.data), Array.from(ref.data));
    for (const k of [1, 2]) assert.ok(ref.data.filter((v) => v === k).length >= 20, `the model predicts label ${k} (not a trivial comparison)`);
    const rows = await page.$$eval('#volumes tbody tr', (trs) => trs.map((tr) => Array.from(tr.children).slice(1).map((td) => td.textContent)));
    assert.deepEqual(rows.map((r) => r[0]), ['Anterior', 'Posterior']);
    assert.equal(Number(rows[0][1]), seg.data.filter((v) => v === 1).length);
    await page.waitForTimeout(500); // the viewer draws the overlay
    await page.screenshot({ path: path.join(OUT, 'web_app_wasm.png') });
    await page.close();
  });

  test('an official nnU-Net v2 model (ResidualEncoderUNet, v2 pipeline) on WASM: voxel for voxel what Model.load(dir).predict gives', async () => {
    const p = await open('wasm', path.basename(V2_DIR));
    assert.match((await p.textContent('#model-info')) ?? '', /official nnU-Net v2.*ResidualEncoderUNet.*v2 pipeline/);
    await load(p, caseFile);
    const { seg } = await segment(p, true, 300_000);
    const model = await Model.load(V2_DIR);
    try {
      const ref = (await model.predict(caseFile)).segmentation;
      assert.deepEqual(Array.from(seg.data), Array.from(ref.data));
      assert.ok(ref.data.some((v) => v > 0));
    } finally {
      model.dispose();
    }
    await p.close();
  });

  test('WebGPU (SwiftShader adapter): >= 99.9 % of voxels equal the Node prediction', async () => {
    const p = await open('webgpu');
    await load(p, caseFile);
    const { seg, seconds } = await segment(p, false, 480_000);
    const share = agreement(seg, node.notta);
    console.log(`# webgpu (software): ${seconds.toFixed(1)} s in the page, ${(100 * share).toFixed(3)} % of voxels equal Node's`);
    assert.deepEqual(seg.shape, node.notta.shape);
    assert.ok(share >= 0.999, `only ${(100 * share).toFixed(3)} % equal`);
    await p.screenshot({ path: path.join(OUT, 'web_app_webgpu.png') });
    await p.close();
  });
});
