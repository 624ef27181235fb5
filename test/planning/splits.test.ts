import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { generateSplits, kfoldTestIndices, loadSplits, saveSplits } from '../../sdk/planning/splits';
import { RandomState } from '../../sdk/util/random';

const FIXTURES = path.resolve(__dirname, '../../../shared/fixtures/official');

// MSD Task06 Lung training ids (nnunet-reference.md Appendix A.1)
const LUNG_IDS = [
  1, 3, 4, 5, 6, 9, 10, 14, 15, 16, 18, 20, 22, 23, 25, 26, 27, 28, 29, 31, 33, 34, 36, 37, 38, 41, 42, 43, 44, 45, 46, 47, 48,
  49, 51, 53, 54, 55, 57, 58, 59, 61, 62, 64, 65, 66, 69, 70, 71, 73, 74, 75, 78, 79, 80, 81, 83, 84, 86, 92, 93, 95, 96,
].map((i) => `lung_${String(i).padStart(3, '0')}`);

test('RandomState(12345).shuffle(arange(63)) is the permutation of Appendix A.1', () => {
  const idx = Array.from({ length: 63 }, (_, i) => i);
  new RandomState(12345).shuffle(idx);
  // prettier-ignore
  assert.deepEqual(idx, [53, 47, 4, 40, 26, 45, 25, 44, 21, 6, 32, 30, 20, 48, 12, 42, 22, 8, 2, 55, 24, 43, 19, 51, 46, 35, 58, 5, 56, 28, 3, 15, 0, 50, 52, 33,
    31, 54, 23, 39, 7, 38, 18, 17, 10, 13, 11, 9, 16, 27, 57, 14, 49, 59, 60, 62, 61, 41, 36, 1, 29, 37, 34]);
  assert.deepEqual(kfoldTestIndices(63).map((f) => f.length), [13, 13, 13, 12, 12]);
});

test('Lung 5-fold split reproduces Appendix A.1 exactly', () => {
  assert.equal(LUNG_IDS.length, 63);
  const splits = generateSplits([...LUNG_IDS].reverse()); // input order must not matter: ids are sorted first
  const expectedVal = [
    '006 010 033 034 041 042 046 048 059 065 066 070 079',
    '004 015 022 031 036 038 053 062 064 069 071 075 081',
    '001 005 009 026 037 044 047 049 074 078 080 083 086',
    '014 016 018 020 023 027 028 029 043 057 058 084',
    '003 025 045 051 054 055 061 073 092 093 095 096',
  ].map((s) => s.split(' ').map((x) => `lung_${x}`));
  assert.equal(splits.length, 5);
  splits.forEach((s, k) => {
    assert.deepEqual(s.val, expectedVal[k], `fold ${k} val`);
    assert.deepEqual(s.train, LUNG_IDS.filter((id) => !expectedVal[k].includes(id)), `fold ${k} train`);
  });
});

test('hippocampus split equals the official splits_final (200 cases, 160/40)', () => {
  const ref = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'hippocampus_splits_final.json'), 'utf8')).folds as { train: string[]; val: string[] }[];
  const ids = [...new Set(ref.flatMap((f) => [...f.train, ...f.val]))];
  assert.equal(ids.length, 200);
  assert.deepEqual(generateSplits(ids), ref);
});

test('splits_final.json round-trips (v2 format: list of {train, val}) and bad input fails clearly', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'splits-'));
  try {
    const s = generateSplits(['c', 'a', 'b', 'e', 'd', 'f']);
    const f = path.join(dir, 'splits_final.json');
    await saveSplits(s, f);
    assert.deepEqual(loadSplits(f), s);
    assert.ok(Array.isArray(JSON.parse(fs.readFileSync(f, 'utf8'))));
    fs.writeFileSync(f, JSON.stringify({ train: [] }));
    assert.throws(() => loadSplits(f), /splits_final\.json must be a list/);
    assert.throws(() => loadSplits(path.join(dir, 'nope.json')), /does not exist/);
    assert.throws(() => generateSplits(['a', 'b', 'c']), /n_splits=5 greater than the number of samples n=3/);
    assert.throws(() => generateSplits(['a', 'a', 'b', 'c', 'd']), /duplicate case identifier 'a'/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
