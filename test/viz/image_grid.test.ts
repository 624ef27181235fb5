import { test } from 'node:test';
import assert from 'node:assert/strict';
import { figureProblems, imageGrid } from '../../sdk/viz';

test('imageGrid: one heatmap per image on its own axes, shared window, captions, labels and notes', () => {
  const im = (v: number) => ({ z: [[v, v + 1], [v + 2, v + 3]], caption: `v=${v}` });
  const f = imageGrid(
    [
      { label: 'A', note: 'p 0.1', images: [im(0), im(10)] },
      { label: 'B', images: [im(5), null, im(20)] },
    ],
    { title: 'grid' },
  );
  assert.deepEqual(figureProblems(f), []);
  assert.equal(f.data.length, 4);
  assert.deepEqual(f.data.map((t) => t.xaxis), ['x', 'x2', 'x3', 'x4']);
  assert.ok(f.data.every((t) => t.zmin === 0 && t.zmax === 23));
  const texts = (f.layout.annotations as { text: string }[]).map((a) => a.text);
  for (const t of ['A', 'B', 'p 0.1', 'v=0', 'v=20']) assert.ok(texts.includes(t), t);
  assert.ok((f.layout.yaxis4 as { scaleanchor: string }).scaleanchor === 'x4');
  assert.throws(() => imageGrid([]), /no rows/);
});
