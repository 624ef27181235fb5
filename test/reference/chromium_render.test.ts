// reference suite: Chromium (kernel-setup/install.sh) -- figures render to PNG and pass Plotly.validate in a real browser
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import {
  barChart,
  boxPlot,
  closeRenderer,
  dicePerClass,
  heatmapChart,
  histogramChart,
  lineChart,
  showPNG,
  sliceViewer,
  toHTML,
  toPNG,
  trainingCurves,
  validateInBrowser,
  Figure,
} from '../../sdk/viz';
import { chromiumPath } from '../../sdk/viz/render';

const CHROMIUM = chromiumPath();
const OUT = path.resolve(__dirname, '../../.cache/viz-test');
after(() => closeRenderer());

// the reference suite fails (never skips) when what it needs is missing
test('setup: Chromium is installed', () => {
  assert.ok(fs.existsSync(CHROMIUM), `no Chromium at ${CHROMIUM}: kernel-setup/install.sh installs it (apt-get install -y chromium)`);
});

function pngInfo(b: Uint8Array): { width: number; height: number } {
  assert.deepEqual([...b.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'PNG signature');
  assert.equal(Buffer.from(b.subarray(12, 16)).toString('latin1'), 'IHDR');
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  return { width: dv.getUint32(16), height: dv.getUint32(20) };
}

function smallVolume() {
  const shape: [number, number, number] = [6, 24, 32];
  const data = new Float32Array(6 * 24 * 32);
  const label = new Uint8Array(data.length);
  const prediction = new Uint8Array(data.length);
  for (let z = 0; z < 6; z++)
    for (let y = 0; y < 24; y++)
      for (let x = 0; x < 32; x++) {
        const i = (z * 24 + y) * 32 + x;
        const r = Math.hypot(y - 12, x - 16);
        data[i] = 200 - 5 * r + 10 * z;
        label[i] = r < 5 ? 1 : r < 9 ? 2 : 0;
        prediction[i] = Math.hypot(y - 13, x - 17) < 5 ? 1 : Math.hypot(y - 13, x - 17) < 9 ? 2 : 0;
      }
  return { data, shape, label: { data: label, shape }, prediction: { data: prediction, shape } };
}

test('toPNG renders a figure with Chromium: PNG signature, pixel size, plausible bytes', async () => {
  fs.mkdirSync(OUT, { recursive: true });
  const file = path.join(OUT, 'bar.png');
  const fig = barChart(
    [
      { name: '2d', x: ['anterior', 'posterior'], y: [0.88, 0.86] },
      { name: '3d_fullres', x: ['anterior', 'posterior'], y: [0.9, 0.89] },
    ],
    { title: 'Dice per class', yTitle: 'Dice' },
  );
  const r = await toPNG(fig, file, { width: 500, height: 300 });
  const bytes = new Uint8Array(fs.readFileSync(file));
  assert.deepEqual(pngInfo(bytes), { width: 500, height: 300 });
  assert.equal(r.bytes, bytes.length);
  assert.ok(bytes.length > 5000, `a drawn chart, not a blank page (${bytes.length} B)`);
  const r2 = await toPNG(fig, path.join(OUT, 'bar2x.png'), { width: 500, height: 300, scale: 2 });
  assert.deepEqual(pngInfo(new Uint8Array(fs.readFileSync(r2.file))), { width: 1000, height: 600 });
  const v = smallVolume();
  const s = await toPNG(sliceViewer(v, { label: v.label, prediction: v.prediction, title: 'slice viewer' }), path.join(OUT, 'slice.png'));
  assert.deepEqual(pngInfo(new Uint8Array(fs.readFileSync(s.file))), { width: 640, height: 640 });
});

test('showPNG sends the rendered PNG to the display (no plotly.js in the notebook)', async () => {
  const shown: Uint8Array[] = [];
  const html: string[] = [];
  await showPNG(lineChart({ y: [1, 3, 2] }), { width: 320, height: 200, display: { html: (s) => html.push(s), png: (b) => shown.push(b) } });
  assert.equal(shown.length, 1);
  assert.deepEqual(pngInfo(shown[0]), { width: 320, height: 200 });
  assert.equal(html.length, 0);
});

test('every builder passes Plotly.validate in the browser', async () => {
  const v = smallVolume();
  const figs: Record<string, Figure> = {
    bar: barChart({ y: [1, 2] }),
    line: lineChart([{ y: [1, NaN, 2] }, { y: [2, 1, 0], dash: 'dot' }], { logY: true }),
    box: boxPlot([{ name: 'a', values: [0.1, 0.2, 0.4] }]),
    histogram: histogramChart([1, 2, 2, 3], { nbins: 3, histnorm: 'probability' }),
    heatmap: heatmapChart([[1, 2], [3, 4]], { annotate: true }),
    slice: sliceViewer(v, { label: v.label, prediction: v.prediction, axis: 'y' }),
    sliceContour: sliceViewer(v, { label: v.label, labelStyle: 'contour', prediction: v.prediction, predictionStyle: 'fill', axis: 'x' }),
    curves: trainingCurves([0, 1].map((e) => ({ epoch: e, train_loss: 1 - e, val_loss: 1, pseudo_dice: [0.5, 0.6], ema: 0.5, lr: 0.01, epoch_time: 20 }))),
    dice: dicePerClass([{ class: 1, dice: 0.8 }, { class: 1, dice: 0.9, group: 'g' }]),
  };
  for (const [name, fig] of Object.entries(figs)) {
    assert.deepEqual(await validateInBrowser(fig), [], name);
  }
});

test('toHTML writes a standalone page that draws the figure', async () => {
  fs.mkdirSync(OUT, { recursive: true });
  const file = path.join(OUT, 'slice.html');
  const v = smallVolume();
  const r = await toHTML(sliceViewer(v, { label: v.label }), file);
  assert.ok(r.bytes > 5e6, 'plotly.js inlined');
  const { chromium } = require('playwright-core') as typeof import('playwright-core');
  const { CHROMIUM_ARGS } = await import('../../sdk/viz/render');
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
  try {
    const page = await browser.newPage();
    await page.goto('file://' + file);
    await page.waitForSelector('#nnunet-ts-figure .main-svg', { timeout: 20000 });
    const n = await page.evaluate('document.querySelectorAll("#nnunet-ts-figure .slider-container, #nnunet-ts-figure .slider-group").length');
    assert.ok((n as number) > 0, 'the slider is drawn');
  } finally {
    await browser.close();
  }
  const small = await toHTML(barChart({ y: [1] }), path.join(os.tmpdir(), `nnunet-ts-viz-${process.pid}.html`), { plotlyjs: { src: 'plotly.min.js' } });
  assert.ok(small.bytes < 5000);
  fs.unlinkSync(small.file);
});
