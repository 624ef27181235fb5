import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { reportHTML, writeReport } from '../../sdk/viz/report';
import { barChart, lineChart } from '../../sdk/viz/figure';
import { plotlyVersion } from '../../sdk/viz/plotly_lib';

test('reportHTML: sections in order, plotly.js inlined once, one div per figure, text escaped, tables rendered', () => {
  const html = reportHTML(
    [
      { heading: 'Result <1>', blocks: [{ kind: 'text', text: 'Dice 0.8 & more\n\nsecond paragraph' }, { kind: 'table', table: [{ case: 'lung_013', dice: 0.81 }] }] },
      { heading: 'Curves', blocks: [{ kind: 'figure', figure: lineChart({ y: [3, 2, 1] }), caption: 'a caption' }, { kind: 'figure', figure: barChart({ x: ['a'], y: [1] }) }] },
    ],
    { title: 'T', subtitle: 'sub' },
  );
  assert.ok(html.startsWith('<!DOCTYPE html>'));
  assert.equal(html.split(`/* plotly.js ${plotlyVersion()} */`).length - 1, 1, 'the library once');
  assert.equal((html.match(/class="nnunet-ts-figure"/g) ?? []).length, 2);
  assert.ok(html.indexOf('Result &lt;1&gt;') < html.indexOf('<h2>Curves</h2>'));
  assert.match(html, /<p>Dice 0\.8 &amp; more<\/p>\n<p>second paragraph<\/p>/);
  assert.match(html, /<table[\s\S]*lung_013[\s\S]*0\.81/);
  assert.match(html, /a caption/);
  assert.doesNotMatch(html, /<script[^>]*src=/, 'self-contained: no external scripts');
  // no figures: no library
  assert.doesNotMatch(reportHTML([{ heading: 'x', blocks: [{ kind: 'text', text: 'y' }] }], { title: 't' }), /plotly\.js/);
});

test('a broken figure fails naming its section; writeReport writes atomically and returns the size', async () => {
  assert.throws(() => reportHTML([{ heading: 'Training', blocks: [{ kind: 'figure', figure: { data: 'nope', layout: {} } as never }] }], { title: 't' }), /Training/);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nnunet-report-'));
  try {
    const r = await writeReport(path.join(dir, 'r.html'), [{ heading: 'h', blocks: [{ kind: 'html', html: '<b>ok</b>' }] }], { title: 't' });
    assert.equal(fs.statSync(r.file).size, r.bytes);
    assert.deepEqual(fs.readdirSync(dir), ['r.html'], 'no temporary file left');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
