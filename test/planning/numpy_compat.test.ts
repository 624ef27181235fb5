import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { argsortLast, median, percentile, roundHalfEven } from '../../sdk/util/numpy_compat';

test('roundHalfEven rounds half to even like numpy/Python (Math.round does not)', () => {
  // -0.5 gives -0 as np.round does (one shared helper, sdk/util/numeric.ts); the planners only round values >= 0
  assert.deepEqual([0.5, 1.5, 2.5, 3.5, -0.5, -1.5, 84.5, 2.4999, 2.5001].map(roundHalfEven), [0, 2, 2, 4, -0, -2, 84, 2, 3]);
  assert.deepEqual([0, -0, 0.4999999999999999, 1e300, Infinity, -Infinity].map(roundHalfEven), [0, -0, 0, 1e300, Infinity, -Infinity]);
  assert.ok(Number.isNaN(roundHalfEven(NaN)));
  assert.equal(Math.round(2.5), 3); // the reason the helper exists
});

test('percentile uses numpy linear interpolation; median averages the middle two', () => {
  // np.percentile([1, 2, 3, 4], 99.5) = 3.985, np.percentile([1, 2, 3, 4], 0.5) = 1.015, np.percentile([5], 10) = 5
  assert.ok(Math.abs(percentile([4, 1, 3, 2], 99.5) - 3.985) < 1e-12);
  assert.ok(Math.abs(percentile([4, 1, 3, 2], 0.5) - 1.015) < 1e-12);
  assert.equal(percentile([5], 10), 5);
  assert.equal(median([3, 1, 2, 10]), 2.5);
  assert.equal(median([3, 1, 2]), 2);
});

test('argsortLast picks the highest index among ties (numpy stable sort on tiny arrays)', () => {
  assert.equal(argsortLast([1, 1, 1]), 2);
  assert.equal(argsortLast([2, 1, 1]), 0);
  assert.equal(argsortLast([1, 3, 3, 2]), 2);
});
