import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dicePerClass, figureProblems, trainingCurves, TrainingCurveEntry } from '../../sdk/viz';

const log: TrainingCurveEntry[] = [0, 1, 2].map((e) => ({
  epoch: e,
  train_loss: -0.1 * e,
  val_loss: -0.05 * e,
  pseudo_dice: e === 1 ? [0.5, NaN] : [0.2 * e, 0.4],
  ema: 0.3 + 0.01 * e,
  lr: 0.01 * Math.pow(1 - e / 3, 0.9),
}));

test('trainingCurves: nnU-Net progress.png traces, mean pseudo dice is a nanmean', () => {
  const f = trainingCurves(log, { classNames: ['anterior', 'posterior'] });
  assert.deepEqual(figureProblems(f), []);
  const names = f.data.map((t) => t.name);
  assert.deepEqual(names, ['loss_tr', 'loss_val', 'pseudo dice', 'pseudo dice (mov. avg.)', 'pseudo dice anterior', 'pseudo dice posterior', 'learning rate']);
  const byName = (n: string) => f.data.find((t) => t.name === n)!;
  assert.deepEqual(byName('pseudo dice').y, [0.2, 0.5, 0.4]); // epoch 0: (0 + 0.4) / 2; epoch 1: nanmean -> 0.5
  assert.deepEqual(byName('pseudo dice posterior').y, [0.4, null, 0.4]);
  assert.equal(byName('pseudo dice').yaxis, 'y2');
  assert.equal(byName('learning rate').yaxis, 'y3');
  assert.deepEqual(byName('loss_tr').x, [0, 1, 2]);
  assert.ok(f.layout.yaxis3, 'lr panel');
  assert.equal(f.layout.yaxis4, undefined, 'no duration panel without epoch_time');
});

test('trainingCurves: epoch_time adds the epoch duration panel; bad logs are named', () => {
  const f = trainingCurves(log.map((e) => ({ ...e, epoch_time: 30 + e.epoch })), { perClass: false });
  assert.deepEqual(figureProblems(f), []);
  const dur = f.data.find((t) => t.name === 'epoch duration')!;
  assert.deepEqual(dur.y, [30, 31, 32]);
  assert.equal(dur.yaxis, 'y4');
  assert.ok(!f.data.some((t) => String(t.name).startsWith('pseudo dice class')));
  assert.throws(() => trainingCurves([]), /no epochs/);
  assert.throws(() => trainingCurves([{ ...log[0], lr: undefined as unknown as number }]), /log\[0\]\.lr is undefined/);
});

test('dicePerClass: one box per class, NaN left out and counted; grouped boxes with groups', () => {
  const rows = [
    { class: 'anterior', dice: 0.9, case: 'a' },
    { class: 'anterior', dice: 0.8, case: 'b' },
    { class: 'posterior', dice: NaN, case: 'a' },
    { class: 'posterior', dice: 0.7, case: 'b' },
  ];
  const f = dicePerClass(rows, { title: 'fold 0' });
  assert.deepEqual(figureProblems(f), []);
  assert.equal(f.data.length, 2);
  assert.equal(f.data[0].type, 'box');
  assert.deepEqual(f.data[0].y, [0.9, 0.8]);
  assert.deepEqual(f.data[1].y, [0.7]);
  assert.equal(f.data[1].name, 'posterior (1 NaN)');
  assert.deepEqual(f.data[1].text, ['b']);
  const g = dicePerClass(rows.flatMap((r) => [{ ...r, group: '2d' }, { ...r, group: '3d_fullres', dice: r.dice - 0.1 }]));
  assert.deepEqual(figureProblems(g), []);
  assert.equal(g.data.length, 2);
  assert.equal(g.layout.boxmode, 'group');
  assert.deepEqual(g.data[1].x, ['anterior', 'anterior', 'posterior (2 NaN)']);
  assert.throws(() => dicePerClass([{ class: 1, dice: 'x' as unknown as number }]), /rows\[0\]\.dice is "x"/);
});
