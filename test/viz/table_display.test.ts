import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'child_process';
import * as path from 'path';
import { barChart, DisplayLike, loadPlotly, show, showTable, tableHTML } from '../../sdk/viz';

const ROOT = path.resolve(__dirname, '../..');
// arquero is ESM-only: load it as a user's CommonJS notebook code would
const importESM = new Function('m', 'return import(m)') as (m: string) => Promise<any>;

class FakeDisplay implements DisplayLike {
  outputs: string[] = [];
  html(s: string): void {
    this.outputs.push(s);
  }
}

test('tableHTML of an arquero table: header, formatted numbers, escaping, row limit', async () => {
  const aq = await importESM('arquero');
  const t = aq.table({ case: ['hippocampus_001', '<b>'], dice: [0.912345678, NaN], n: [3, 4] });
  const html = tableHTML(t, { caption: 'summary' });
  assert.match(html, /<th[^>]*>case<\/th><th[^>]*>dice<\/th><th[^>]*>n<\/th>/);
  assert.match(html, />0\.9123</);
  assert.match(html, />NaN</);
  assert.match(html, /&lt;b&gt;/);
  assert.ok(!html.includes('<b>'));
  assert.match(html, /<caption[^>]*>summary<\/caption>/);
  const long = aq.table({ i: Array.from({ length: 60 }, (_, i) => i) });
  const h2 = tableHTML(long, { limit: 5 });
  assert.equal((h2.match(/<tr>/g) ?? []).length, 1 + 5);
  assert.match(h2, /5 of 60 rows shown/);
  // arrays of plain rows work the same
  assert.match(tableHTML([{ a: 1, b: 'x' }, { a: 2.5 }]), /<td style="text-align:right;padding:2px 8px">2\.5<\/td><td[^>]*><\/td>/);
  assert.throws(() => tableHTML(42 as never), /expected an arquero table/);
});

test('show(): plotly.js goes out once per display, then one small div + newPlot per figure', () => {
  const d = new FakeDisplay();
  const fig = barChart({ name: 'dice', x: ['a', 'b'], y: [0.8, 0.9] }, { title: 'x</script><b>' });
  show(fig, { display: d });
  assert.equal(d.outputs.length, 2);
  assert.match(d.outputs[0], /^<script type="text\/javascript">\/\* plotly\.js 4\.1\.1/);
  assert.ok(d.outputs[0].length > 5e6, 'the library itself');
  assert.ok(d.outputs[1].length < 5000, `a figure output is small (${d.outputs[1].length} B)`);
  assert.match(d.outputs[1], /window\.Plotly\.newPlot\(el, fig\)/);
  assert.equal((d.outputs[1].match(/<\/script>/g) ?? []).length, 1, 'the title cannot close the script early');
  // the embedded spec parses back to the figure
  const json = /var fig = (.*);\n/.exec(d.outputs[1])![1];
  const spec = JSON.parse(json);
  assert.deepEqual(spec.data, fig.data);
  assert.deepEqual(spec.layout, fig.layout);
  show(fig, { display: d });
  show(fig, { display: d });
  assert.equal(d.outputs.length, 4, 'no second copy of the library');
  assert.equal(d.outputs.filter((o) => o.includes('plotly.js 4.1.1')).length, 1);
  const ids = d.outputs.slice(1).map((o) => /<div id="([^"]+)"/.exec(o)![1]);
  assert.equal(new Set(ids).size, 3, 'every figure gets its own div id');
  // another kernel (display) gets its own copy; force re-sends it (browser tab reloaded)
  const d2 = new FakeDisplay();
  show(fig, { display: d2 });
  assert.equal(d2.outputs.length, 2);
  loadPlotly({ display: d2, force: true });
  assert.equal(d2.outputs.length, 3);
  assert.throws(() => show({ data: [{ type: 'scatter', x: [1, 2], y: [1] }], layout: {} }, { display: d2 }), /show\(\) is not a valid Plotly spec/);
  showTable([{ a: 1 }], { display: d2 });
  assert.match(d2.outputs[d2.outputs.length - 1], /^<table/);
});

test('show() outside a tslab kernel says what to use instead', () => {
  assert.throws(() => show(barChart({ y: [1] })), /no tslab kernel is running here.*toPNG\(\)\/toHTML\(\)/);
});

test('loading sdk/viz pulls in neither tslab, playwright-core nor plotly.js', () => {
  const r = spawnSync(
    process.execPath,
    [
      '-r',
      'ts-node/register/transpile-only',
      '-e',
      "require('./sdk/viz'); const m = Object.keys(require.cache).filter((k) => /node_modules\\/(tslab|@tslab|playwright-core|plotly\\.js-dist)\\//.test(k)); console.log(JSON.stringify(m));",
    ],
    { cwd: ROOT, encoding: 'utf8', env: { ...process.env, TS_NODE_TRANSPILE_ONLY: '1' } },
  );
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout.trim()), []);
});
