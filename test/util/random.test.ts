import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { RandomState } from '../../sdk/util/random';

// Reference values printed by numpy 1.24/2.x: np.random.RandomState(1234)
test('RandomState matches numpy legacy MT19937 bit for bit', () => {
  const r = new RandomState(1234);
  assert.deepEqual(Array.from(r.randomSample(3)), [0.1915194503788923, 0.6221087710398319, 0.4377277390071145]);
  assert.deepEqual([0, 1, 2, 3, 4].map(() => r.randint(0, 10)), [8, 9, 1, 7, 9]);
  assert.deepEqual(Array.from(r.permutation(10)), [3, 9, 2, 1, 7, 5, 4, 0, 8, 6]);
  assert.deepEqual([r.normal(), r.normal(), r.normal()], [0.14580910009374382, 2.8940909515282995, -0.30426018313286834]);
  assert.deepEqual(Array.from(r.choiceWithoutReplacement(100, 5)), [87, 64, 78, 6, 51]);
});

test('RandomState state round-trips', () => {
  const a = new RandomState(7);
  a.random();
  a.normal();
  const s = a.getState();
  const b = new RandomState(0);
  b.setState(JSON.parse(JSON.stringify(s)));
  assert.equal(a.random(), b.random());
  assert.equal(a.normal(), b.normal());
});

test('RandomState rejects bad seeds', () => {
  assert.throws(() => new RandomState(-1), /seed/);
  assert.throws(() => new RandomState(1.5), /seed/);
});
