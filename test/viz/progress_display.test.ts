import { test } from 'node:test';
import assert from 'node:assert/strict';
import { notebookProgressSink, progressRowsHTML } from '../../sdk/viz/progress_display';
import { progress, setProgressSink, ProgressState } from '../../sdk/util/progress';

function recorder() {
  const displays: string[][] = [];
  return {
    displays,
    newDisplay: () => {
      const updates: string[] = [];
      displays.push(updates);
      return { html: (s: string) => void updates.push(s) };
    },
  };
}

test('notebook progress: one display per cell updated in place, one row per group, throttled, finished rows are summaries', () => {
  const rec = recorder();
  let cell = 1;
  let t = 0;
  const sink = notebookProgressSink({ newDisplay: rec.newDisplay, cell: () => cell, now: () => t, minIntervalMs: 250 });
  const st = (label: string, group: string, done: number, total: number, finished = false): ProgressState => ({ label, group, done, total, elapsedS: t / 1000, finished });
  sink(st('2d fold 0 epoch 1/2', 'train', 0, 4));
  t = 100;
  sink(st('2d fold 0 epoch 1/2', 'train', 1, 4)); // throttled
  t = 400;
  sink(st('2d fold 0 epoch 1/2', 'train', 2, 4));
  sink(st('2d fold 0 epoch 1/2', 'train', 4, 4, true)); // finished: always drawn
  sink(st('2d fold 0 epoch 2/2', 'train', 0, 4)); // replaces the finished epoch in the same row
  sink(st('validate 2d', 'validate 2d', 0, 2));
  assert.equal(rec.displays.length, 1, 'one display for the cell');
  const u = rec.displays[0];
  assert.equal(u.length, 5, 'first state, one throttled update dropped, the rest drawn');
  const lastHTML = u[u.length - 1];
  assert.equal((lastHTML.match(/<progress/g) ?? []).length, 2, 'two groups -> two rows');
  assert.match(lastHTML, /epoch 2\/2/);
  assert.doesNotMatch(lastHTML, /epoch 1\/2/);
  assert.match(u[2], /✓.*epoch 1\/2.*4\/4/s, 'a finished bar becomes its summary line');
  cell = 2; // the next cell gets its own display
  sink(st('predict 2d', 'predict 2d', 0, 1));
  assert.equal(rec.displays.length, 2);
  assert.equal((rec.displays[1][0].match(/<progress/g) ?? []).length, 1);
});

test('progressRowsHTML escapes labels and shows count, elapsed time and ETA', () => {
  const h = progressRowsHTML([{ label: '<b>x</b>', group: 'g', done: 1, total: 4, elapsedS: 10, finished: false, info: 'lung_001' }]);
  assert.match(h, /&lt;b&gt;x&lt;\/b&gt;/);
  assert.match(h, /1\/4 · 10s · eta 30s · lung_001/);
  assert.match(h, /value="0\.2500"/);
});

test('outside a tslab kernel the default sink stays the terminal one (no display, no throw)', () => {
  const seen: ProgressState[] = [];
  setProgressSink((s) => void seen.push(s));
  try {
    const bar = progress('x', 2, { group: 'g' });
    bar.tick();
    bar.done();
  } finally {
    setProgressSink(null);
  }
  assert.equal(seen[seen.length - 1].finished, true);
  assert.equal(seen[seen.length - 1].group, 'g');
  // the default sink: no tslab kernel in this process, so the notebook display declines and the terminal bar prints
  const prev = process.env.NNUNET_PROGRESS;
  delete process.env.NNUNET_PROGRESS;
  const written: string[] = [];
  const write = process.stderr.write;
  process.stderr.write = ((chunk: string) => (written.push(String(chunk)), true)) as typeof process.stderr.write;
  try {
    const b = progress('terminal bar', 1);
    b.tick();
    b.done();
  } finally {
    process.stderr.write = write;
    if (prev !== undefined) process.env.NNUNET_PROGRESS = prev;
  }
  assert.ok(written.some((w) => w.includes('terminal bar') && w.includes('1/1')), JSON.stringify(written));
});
