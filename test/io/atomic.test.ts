/** Atomic artifact writes: no temp file left behind; an unchanged rewrite keeps the file's timestamp. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { writeFileAtomic, writeFileAtomicIfChanged, writeJsonAtomicIfChanged } from '../../sdk/io/atomic';

test('writeFileAtomicIfChanged keeps the timestamp of an unchanged file and replaces a changed one', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nnunet-atomic-'));
  const f = path.join(dir, 'sub', 'summary.csv');
  assert.equal(await writeFileAtomicIfChanged(f, 'a,b\n'), true, 'absent: written');
  fs.utimesSync(f, 1000, 1000);
  assert.equal(await writeFileAtomicIfChanged(f, 'a,b\n'), false);
  assert.equal(fs.statSync(f).mtimeMs, 1000 * 1000);
  assert.equal(await writeFileAtomicIfChanged(f, 'a,c\n'), true);
  assert.equal(fs.readFileSync(f, 'utf8'), 'a,c\n');
  assert.ok(fs.statSync(f).mtimeMs > 1000 * 1000);
  await writeFileAtomic(f, 'x');
  assert.deepEqual(fs.readdirSync(path.dirname(f)), ['summary.csv'], 'no temp files left');
});

test('writeJsonAtomicIfChanged compares JSON values, not formatting', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nnunet-atomic-'));
  const f = path.join(dir, 'plans.json');
  fs.writeFileSync(f, '{"a":1,"b":[2,3]}');
  fs.utimesSync(f, 1000, 1000);
  assert.equal(await writeJsonAtomicIfChanged(f, { a: 1, b: [2, 3] }), false);
  assert.equal(fs.statSync(f).mtimeMs, 1000 * 1000);
  assert.equal(await writeJsonAtomicIfChanged(f, { a: 2, b: [2, 3] }), true);
  assert.deepEqual(JSON.parse(fs.readFileSync(f, 'utf8')), { a: 2, b: [2, 3] });
});
