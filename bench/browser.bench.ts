/**
 * `npm run bench -- browser [--config 2d|3d_fullres|both] [--cases N] [--tta on|off]`: seconds per hippocampus case in
 * the web app in headless Chromium (WASM backend, the page's own pipeline: preprocessing, Gaussian sliding window,
 * mirroring TTA, export, postprocessing) next to Node running the same code on the same cases with the same network,
 * in one run. Issue 23's target: Chromium at most 1.5x Node.
 *
 * The networks have the official hippocampus plans' architecture (nnUNetPlansv2.1 from the official v1 plans
 * pickles) with seeded random weights: speed does not depend on what the weights learned. Both sides use tfjs's
 * single-thread SIMD WASM build with our conv kernels; the page runs with the viewer off (?viewer=0) so only the
 * pipeline is timed. Each side predicts one case first, untimed (wasm compilation, kernel caches).
 */
import * as fs from 'fs';
import * as path from 'path';
import { initBackend } from '../sdk/network/backend';
import { buildArchitecture } from '../sdk/network/architecture';
import { GenericUNet } from '../sdk/network/generic_unet';
import { decodeNifti } from '../sdk/io/nifti';
import { predictVolume } from '../sdk/inference/predict_volume';
import { loadWebModel } from '../sdk/model/web_model';
import { webModelFromNetworks, type ServedModel } from '../sdk/model/web_model_files';
import { CHROMIUM_ARGS, chromiumPath } from '../sdk/viz/render';
import { ensureWebApp } from '../web/build';
import { serveWebApp } from '../web/server';
import { HIPPOCAMPUS, officialHippocampusPlans } from './hippocampus_baseline';
import { arg, num, printTable } from './script';

export async function main(args: string[]): Promise<void> {
  const which = arg(args, '--config') ?? 'both';
  const configs = which === 'both' ? ['2d', '3d_fullres'] : [which];
  const nCases = num(args, '--cases') ?? 3;
  const tta = (arg(args, '--tta') ?? 'on') !== 'off';
  if (!fs.existsSync(chromiumPath())) throw new Error(`no Chromium at ${chromiumPath()} (kernel-setup/install.sh)`);
  await initBackend({ backend: 'wasm' });
  const plans = officialHippocampusPlans();
  const ids = fs.readdirSync(path.join(HIPPOCAMPUS, 'imagesTr')).filter((f) => f.endsWith('.nii.gz')).sort().slice(0, nCases + 1);
  const files = ids.map((f) => path.join(HIPPOCAMPUS, 'imagesTr', f));
  const models: ServedModel[] = [];
  for (const c of configs) {
    const cfg = plans.configuration(c);
    const net = new GenericUNet(buildArchitecture(cfg, { numInputChannels: 1, numClasses: 3 }), undefined, { seed: 1 });
    models.push(
      await webModelFromNetworks({ name: `bench ${c}`, description: `hippocampus ${c} (random weights)`, source: 'nnunet-ts', plans: plans.json, configuration: c, networks: [net], foldNames: ['fold_0'], postprocessing: null }),
    );
    net.dispose();
  }

  // Node: the same pipeline on the same decoded files
  const nodeSeconds: Record<string, number[]> = {};
  const nodeSegs: Record<string, Uint8Array[]> = {};
  for (const m of models) {
    const model = await loadWebModel(m.manifest, async (f) => m.blobs.get(f)!);
    nodeSeconds[m.manifest.configuration] = [];
    nodeSegs[m.manifest.configuration] = [];
    for (const [i, f] of files.entries()) {
      const vols = (await decodeNifti(fs.readFileSync(f), f)).volumes;
      const t0 = performance.now();
      const r = await predictVolume(vols, model, { mirroring: tta });
      if (i > 0) {
        nodeSeconds[m.manifest.configuration].push((performance.now() - t0) / 1000);
        nodeSegs[m.manifest.configuration].push(r.segmentation.data);
      }
    }
    model.nets.forEach((n) => n.dispose());
  }

  // Chromium: the built app, served in-process
  const appDir = await ensureWebApp((s) => console.log(s));
  const server = await serveWebApp({ appDir, models, port: 0 });
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({ executablePath: chromiumPath(), headless: true, args: CHROMIUM_ARGS });
  const rows: string[][] = [];
  const ratios: number[] = [];
  try {
    for (const m of models) {
      const c = m.manifest.configuration;
      const page = await browser.newPage();
      await page.goto(`${server.url}?backend=wasm&viewer=0&model=${encodeURIComponent(m.id)}`);
      await page.waitForFunction(() => ['ready', 'error'].includes(document.body.dataset.state ?? ''), null, { timeout: 120_000 });
      const info = await page.textContent('#backend-info');
      if (!/^backend: wasm/.test(info ?? '')) throw new Error(`the page did not start wasm: ${info} ${await page.textContent('#error')}`);
      await page.setChecked('#tta', tta);
      for (const [i, f] of files.entries()) {
        await page.setInputFiles('#file', f);
        await page.waitForFunction(() => document.body.dataset.state === 'ready' && !(document.getElementById('run') as HTMLButtonElement).disabled, null, { timeout: 60_000 });
        await page.click('#run');
        await page.waitForFunction(() => ['done', 'error'].includes(document.body.dataset.state ?? ''), null, { timeout: 600_000 });
        const res = await page.evaluate(() => (window as unknown as { nnunetApp: { result: { seconds: number; segmentationVoxels: number[] } | null } }).nnunetApp.result);
        if (!res || (await page.evaluate(() => document.body.dataset.state)) !== 'done') throw new Error(`${f}: ${await page.textContent('#error')}`);
        if (i === 0) continue; // warm-up
        const ns = nodeSeconds[c][i - 1];
        const seg = nodeSegs[c][i - 1];
        let same = 0;
        for (let k = 0; k < seg.length; k++) if (seg[k] === res.segmentationVoxels[k]) same++;
        ratios.push(res.seconds / ns);
        rows.push([c, path.basename(f), ns.toFixed(2), res.seconds.toFixed(2), (res.seconds / ns).toFixed(2), `${((100 * same) / seg.length).toFixed(2)} %`]);
      }
      await page.close();
    }
  } finally {
    await browser.close();
    await server.close();
  }
  console.log(`\nhippocampus case with${tta ? '' : 'out'} mirroring TTA, wasm (SIMD, 1 thread), seconds per case (preprocessing + sliding window + export); Chromium ${(await import('child_process')).execFileSync(chromiumPath(), ['--version']).toString().trim()}`);
  printTable(['configuration', 'case', 'Node s', 'Chromium s', 'Chromium / Node', 'same voxels'], rows);
  const sorted = [...ratios].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)];
  console.log(`median Chromium / Node: ${median.toFixed(2)} (target <= 1.5: ${median <= 1.5 ? 'met' : 'NOT met'})`);
}
