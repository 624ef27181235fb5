// reference suite: Chromium (kernel-setup/install.sh) -- the notebook runner's figure screenshots: one PNG per drawn figure, an index, a loud failure when plotly did not draw
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { barChart, heatmapChart } from '../../sdk/viz';
import { figureSnippet, plotlyLibrary } from '../../sdk/viz/plotly_lib';
import { chromiumPath } from '../../sdk/viz/render';
import { screenshotNotebooks } from '../../kernel-setup/screenshot_notebooks';

test('setup: Chromium is installed', () => {
  assert.ok(fs.existsSync(chromiumPath()), `no Chromium at ${chromiumPath()}: kernel-setup/install.sh installs it`);
});

/** An nbconvert-like page (JupyterLab classes): cells with In [n] prompts and their HTML outputs. */
function page(cells: { markdown?: string; outputs?: string[]; n?: number }[]): string {
  const body = cells
    .map((c) =>
      c.markdown !== undefined
        ? `<div class="jp-Cell jp-MarkdownCell jp-Notebook-cell"><p>${c.markdown}</p></div>`
        : `<div class="jp-Cell jp-CodeCell jp-Notebook-cell"><div class="jp-InputPrompt">In&nbsp;[${c.n}]:</div>` +
          (c.outputs ?? []).map((o) => `<div class="jp-OutputArea-output">${o}</div>`).join('') +
          '</div>',
    )
    .join('\n');
  return `<!DOCTYPE html><html><head><meta charset="utf-8"></head><body>${body}</body></html>`;
}

function isPNG(file: string): { width: number; height: number } {
  const b = fs.readFileSync(file);
  assert.deepEqual([...b.subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47], `${file} is a PNG`);
  return { width: b.readUInt32BE(16), height: b.readUInt32BE(20) };
}

test('one PNG per drawn figure (plotly divs and image outputs) with an index naming the cells', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nnunet-ts-shots-'));
  const lib = `<script type="text/javascript">${plotlyLibrary()}</script>`;
  // a 1x1 PNG, shown 40 x 20 (as tslab.display.png output)
  const onePixel = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==';
  fs.writeFileSync(
    path.join(dir, 'nb.html'),
    page([
      { markdown: 'title' },
      { n: 1, outputs: [lib, figureSnippet(barChart({ x: ['a', 'b'], y: [1, 2] }, { title: 'bars <b>here</b>', width: 400, height: 300 }))] },
      { markdown: 'more' },
      { n: 2, outputs: [figureSnippet(heatmapChart([[1, 2], [3, 4]], { width: 300, height: 300 })), `<img style="width:40px;height:20px" src="data:image/png;base64,${onePixel}">`] },
    ]),
  );
  // a page whose figure plotly never draws (no plotly.js on the page)
  fs.writeFileSync(path.join(dir, 'broken.html'), page([{ n: 1, outputs: [figureSnippet(barChart({ y: [1] }))] }]));
  const lines: string[] = [];
  const r = await screenshotNotebooks(dir, ['nb'], { timeoutMs: 20000, log: (l) => lines.push(l) });
  assert.deepEqual(r.problems, []);
  assert.deepEqual(
    r.shots.map((s) => [path.basename(s.file), s.cell, s.executionCount, s.kind, s.title]),
    [
      ['fig01.png', 2, 1, 'plotly', 'bars here'],
      ['fig02.png', 4, 2, 'plotly', ''],
      ['fig03.png', 4, 2, 'image', ''],
    ],
  );
  assert.deepEqual(isPNG(path.join(dir, 'screenshots', 'nb', 'fig01.png')), { width: 400, height: 300 });
  assert.ok(fs.statSync(path.join(dir, 'screenshots', 'nb', 'fig01.png')).size > 3000, 'a drawn chart, not a blank box');
  const md = fs.readFileSync(path.join(dir, 'screenshots', 'index.md'), 'utf8');
  assert.match(md, /\[nb\/fig01\.png\]\(nb\/fig01\.png\) \| cell 2 \(In \[1\]\) \| plotly \| bars here/);
  assert.match(fs.readFileSync(path.join(dir, 'screenshots', 'index.html'), 'utf8'), /<img src="nb\/fig03\.png"/);

  const bad = await screenshotNotebooks(dir, ['broken'], { timeoutMs: 15000, log: () => undefined });
  assert.equal(bad.problems.length, 1, bad.problems.join('\n'));
  assert.match(bad.problems[0], /broken cell 1 \(In \[1\]\), plotly figure 1 was not drawn by plotly .*plotly\.js is not loaded/);
  // the index keeps the other notebook's screenshots
  assert.deepEqual([...new Set(bad.shots.map((s) => s.notebook))], ['nb']);
  fs.rmSync(dir, { recursive: true, force: true });
});
