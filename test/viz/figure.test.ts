import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  barChart,
  boxPlot,
  figureProblems,
  heatmapChart,
  histogramChart,
  lineChart,
  toPlain,
  assertValidFigure,
  Figure,
} from '../../sdk/viz';

test('toPlain turns typed arrays into JSON-safe arrays (non-finite -> null)', () => {
  const p = toPlain(new Float32Array([1.5, NaN, Infinity, -2]));
  assert.ok(Array.isArray(p));
  assert.deepEqual(p, [1.5, null, null, -2]);
  assert.equal(JSON.stringify(toPlain(new Int16Array([3, 4]))), '[3,4]');
});

test('barChart: one bar trace per series, categories and values aligned, grouped', () => {
  const f = barChart(
    [
      { name: '2d', x: ['a', 'b', 'c'], y: new Float64Array([1, 2, 3]) },
      { name: '3d_fullres', x: ['a', 'b', 'c'], y: [3, 2, 1] },
    ],
    { title: 'Dice', yTitle: 'dice' },
  );
  assert.equal(f.data.length, 2);
  for (const t of f.data) {
    assert.equal(t.type, 'bar');
    assert.equal((t.x as unknown[]).length, 3);
    assert.ok(Array.isArray(t.y));
  }
  assert.deepEqual(f.data[0].y, [1, 2, 3]);
  assert.equal(f.layout.barmode, 'group');
  assert.deepEqual(f.layout.title, { text: 'Dice' });
  assert.deepEqual(figureProblems(f), []);
  const h = barChart({ y: [5, 6] }, { horizontal: true });
  assert.equal(h.data[0].orientation, 'h');
  assert.deepEqual(h.data[0].y, [0, 1]);
  assert.deepEqual(h.data[0].x, [5, 6]);
});

test('lineChart: x defaults to 0..n-1, NaN becomes a gap, log axis option', () => {
  const f = lineChart([{ y: [1, NaN, 3] }, { name: 'b', x: [10, 20, 30], y: [4, 5, 6], dash: 'dot' }], { logY: true });
  assert.deepEqual(f.data[0].x, [0, 1, 2]);
  assert.deepEqual(f.data[0].y, [1, null, 3]);
  assert.equal((f.data[1].line as { dash: string }).dash, 'dot');
  assert.equal((f.layout.yaxis as { type: string }).type, 'log');
  assert.equal(f.layout.showlegend, true);
});

test('boxPlot and histogramChart drop non-finite values', () => {
  const b = boxPlot([{ name: 'a', values: [0.5, NaN, 0.7] }, { name: 'b', values: new Float32Array([0.1, 0.2]) }]);
  assert.equal(b.data.length, 2);
  assert.deepEqual(b.data[0].y, [0.5, 0.7]);
  assert.equal(b.data[0].boxpoints, 'all');
  const h = histogramChart([1, 2, NaN, 3], { nbins: 10 });
  assert.equal(h.data.length, 1);
  assert.deepEqual(h.data[0].x, [1, 2, 3]);
  assert.equal(h.data[0].nbinsx, 10);
  const h2 = histogramChart([{ name: 'fg', values: [1] }, { name: 'bg', values: [2] }]);
  assert.equal(h2.data.length, 2);
  assert.equal(h2.layout.barmode, 'overlay');
});

test('heatmapChart from rows or from a C-order typed array with its shape', () => {
  const a = heatmapChart([
    [1, 2, 3],
    [4, 5, 6],
  ]);
  const b = heatmapChart({ data: new Float32Array([1, 2, 3, 4, 5, 6]), shape: [2, 3] }, { annotate: true, x: ['a', 'b', 'c'] });
  assert.deepEqual(a.data[0].z, b.data[0].z);
  assert.deepEqual(b.data[0].z, [
    [1, 2, 3],
    [4, 5, 6],
  ]);
  assert.equal((a.layout.yaxis as { autorange: string }).autorange, 'reversed');
  assert.ok(typeof b.data[0].texttemplate === 'string');
  assert.deepEqual(figureProblems(b), []);
  assert.throws(() => heatmapChart({ data: new Float32Array(5), shape: [2, 3] }), /5 values but shape 2x3 needs 6/);
});

test('figureProblems reports broken specs', () => {
  const bad: Figure = {
    data: [
      { type: 'scatter', x: [1, 2, 3], y: [1, 2] },
      { type: 'heatmap', z: [[1, 2], [3]] },
      { type: 'bar', x: new Float32Array([1]) as unknown, y: [1] },
    ],
    layout: {
      sliders: [{ steps: [{ method: 'animate', args: [['missing'], {}] }] }],
    },
    frames: [{ name: 'f0', data: [{ type: 'bar', y: [1] }], traces: [0] }],
  };
  const p = figureProblems(bad);
  assert.ok(p.some((m) => m.includes('x has 3 values but y has 2')), p.join('\n'));
  assert.ok(p.some((m) => m.includes('not rectangular')), p.join('\n'));
  assert.ok(p.some((m) => m.includes('typed array')), p.join('\n'));
  assert.ok(p.some((m) => m.includes('no frame named missing')), p.join('\n'));
  assert.ok(p.some((m) => m.includes('type bar animates a scatter')), p.join('\n'));
  assert.throws(() => assertValidFigure(bad, 'bad'), /bad is not a valid Plotly spec/);
  assert.deepEqual(figureProblems({ data: [{ type: 'scatter', x: [1], y: [2] }], layout: {} }), []);
});
