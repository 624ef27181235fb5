/**
 * The MSD downloader end to end against a local HTTP server on 127.0.0.1 (random port) serving tars built here.
 * No network: every URL points at the local server.
 */
import assert from 'node:assert/strict';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as http from 'http';
import { AddressInfo } from 'net';
import * as os from 'os';
import * as path from 'path';
import { after, before, test } from 'node:test';
import * as zlib from 'zlib';
import { downloadMsd, downloadFile, parseArgs, MSD_MD5, msdDefaultUrl } from '../../data-scripts/download_msd';
import { extractTar, safeEntryName } from '../../data-scripts/tar';
import { generateCase } from '../../data-scripts/synthetic_lung';
import { encodeNifti, readNifti } from '../../sdk/io/nifti';

process.env.NNUNET_PROGRESS = '0';

// ---------------------------------------------------------------------------------------------------------------
// a minimal tar writer (ustar headers, pax 'x' and GNU 'L' long names)

interface Member {
  name: string;
  type?: '0' | '1' | '2' | '5' | 'x' | 'L';
  body?: Buffer;
  linkname?: string;
  prefix?: string;
}

function header(m: Member, size: number): Buffer {
  const h = Buffer.alloc(512);
  h.write(m.name, 0, 100, 'utf8');
  h.write('0000644\0', 100, 'latin1');
  h.write('0000000\0', 108, 'latin1');
  h.write('0000000\0', 116, 'latin1');
  h.write(size.toString(8).padStart(11, '0') + '\0', 124, 'latin1');
  h.write('14536104000\0', 136, 'latin1');
  h.write(' '.repeat(8), 148, 'latin1');
  h.write(m.type ?? '0', 156, 'latin1');
  if (m.linkname) h.write(m.linkname, 157, 100, 'utf8');
  h.write('ustar\0' + '00', 257, 'latin1');
  if (m.prefix) h.write(m.prefix, 345, 155, 'utf8');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1');
  return h;
}

function paxRecord(key: string, value: string): string {
  const rest = ` ${key}=${value}\n`;
  let len = rest.length + 1;
  while (String(len).length + rest.length !== len) len = String(len).length + rest.length;
  return `${len}${rest}`;
}

function makeTar(members: Member[]): Buffer {
  const parts: Buffer[] = [];
  const pad = (n: number) => Buffer.alloc((512 - (n % 512)) % 512);
  for (const m of members) {
    const body = m.body ?? Buffer.alloc(0);
    parts.push(header(m, m.type === '2' || m.type === '1' || m.type === '5' ? 0 : body.length), body, pad(body.length));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

function withPaxName(name: string, body: Buffer): Member[] {
  return [{ name: 'PaxHeaders.0/x', type: 'x', body: Buffer.from(paxRecord('path', name)) }, { name: name.slice(0, 99), body }];
}

function withGnuLongName(name: string, body: Buffer): Member[] {
  return [{ name: '././@LongLink', type: 'L', body: Buffer.from(name + '\0') }, { name: name.slice(0, 99), body }];
}

const md5 = (b: Buffer) => crypto.createHash('md5').update(b).digest('hex');
const TASK = 'Task99_Test';
const DATASET_JSON = Buffer.from(JSON.stringify({ name: 'Test', modality: { '0': 'CT' }, labels: { '0': 'background', '1': 'x' } }));
// ~300 KB pseudo-random payload so a connection can be dropped midway
const BIG = Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 2654435761) >>> 24));
const LONG_PAX = `${TASK}/long/${'a'.repeat(150)}.txt`;
const LONG_GNU = `${TASK}/gnu/${'b'.repeat(120)}.txt`;

const GOOD = makeTar([
  { name: `${TASK}/`, type: '5' },
  { name: `${TASK}/dataset.json`, body: DATASET_JSON },
  { name: `._${TASK}`, body: Buffer.from('appledouble') },
  { name: `${TASK}/._dataset.json`, body: Buffer.from('appledouble') },
  { name: `${TASK}/imagesTr/case_001.nii.gz`, body: BIG },
  ...withPaxName(LONG_PAX, Buffer.from('pax long name')),
  ...withGnuLongName(LONG_GNU, Buffer.from('gnu long name')),
  { name: 'file.txt', prefix: `${TASK}/prefixed`, body: Buffer.from('ustar prefix') },
  { name: `${TASK}/link_in`, type: '2', linkname: 'dataset.json' },
]);
const GOOD_GZ = zlib.gzipSync(GOOD);

const EVIL_NAME = `nnunet-ts-evil-${process.pid}-${Date.now()}`;
const MALICIOUS: Record<string, { tar: Buffer; error: RegExp }> = {
  dotdot: {
    tar: makeTar([{ name: `${TASK}/dataset.json`, body: DATASET_JSON }, { name: `../${EVIL_NAME}`, body: Buffer.from('evil') }]),
    error: new RegExp(`refusing tar entry '\\.\\./${EVIL_NAME}': '\\.\\.' path segment`),
  },
  absolute: {
    tar: makeTar([{ name: `${TASK}/dataset.json`, body: DATASET_JSON }, { name: path.join(os.tmpdir(), EVIL_NAME), body: Buffer.from('evil') }]),
    error: /refusing tar entry '\/.*': absolute path/,
  },
  symlinkOut: {
    tar: makeTar([
      { name: `${TASK}/dataset.json`, body: DATASET_JSON },
      { name: `${TASK}/link`, type: '2', linkname: `../../${EVIL_NAME}` },
      { name: `${TASK}/link/x`, body: Buffer.from('evil') },
    ]),
    error: /refusing symlink 'Task99_Test\/link' -> '\.\.\/\.\.\/nnunet-ts-evil-.*': target points outside the destination/,
  },
  symlinkAbsolute: {
    tar: makeTar([{ name: `${TASK}/dataset.json`, body: DATASET_JSON }, { name: `${TASK}/etc`, type: '2', linkname: '/etc' }]),
    error: /refusing symlink 'Task99_Test\/etc' -> '\/etc': absolute target/,
  },
  hardlinkOut: {
    tar: makeTar([{ name: `${TASK}/dataset.json`, body: DATASET_JSON }, { name: `${TASK}/pw`, type: '1', linkname: '../../etc/passwd' }]),
    error: /refusing hard link 'Task99_Test\/pw' -> '\.\.\/\.\.\/etc\/passwd': target outside the destination/,
  },
};

// ---------------------------------------------------------------------------------------------------------------
// the local server

interface Hit {
  url: string;
  range?: string;
}
let server: http.Server;
let base = '';
const hits: Hit[] = [];
const dropNext = new Set<string>(); // URLs whose next full (non-Range) response is cut after ~half the body
const files: Record<string, { body: Buffer; ranges: boolean }> = {
  '/good.tar': { body: GOOD, ranges: true },
  '/good.tar.gz': { body: GOOD_GZ, ranges: true },
  '/drop.tar': { body: GOOD, ranges: true },
  '/norange.tar': { body: GOOD, ranges: false },
  ...Object.fromEntries(Object.entries(MALICIOUS).map(([k, v]) => [`/${k}.tar`, { body: v.tar, ranges: true }])),
};

// a real (tiny) MSD task for the --v2 conversion: Task98_Mini with NIfTI files from the synthetic generator
let MINI: Buffer = Buffer.alloc(0);
async function makeMiniMsd(): Promise<Buffer> {
  const a = generateCase(1, { size: 'small', shape: [8, 16, 16] });
  const b = generateCase(2, { size: 'small', shape: [8, 16, 16] });
  const ds = {
    name: 'Mini', modality: { '0': 'CT' }, labels: { '0': 'background', '1': 'cancer' }, numTraining: 1, numTest: 1,
    training: [{ image: './imagesTr/mini_001.nii.gz', label: './labelsTr/mini_001.nii.gz' }], test: ['./imagesTs/mini_002.nii.gz'],
  };
  return makeTar([
    { name: 'Task98_Mini/dataset.json', body: Buffer.from(JSON.stringify(ds)) },
    { name: 'Task98_Mini/imagesTr/mini_001.nii.gz', body: Buffer.from(await encodeNifti(a.image, { gzip: true })) },
    { name: 'Task98_Mini/imagesTr/._mini_001.nii.gz', body: Buffer.from('appledouble') },
    { name: 'Task98_Mini/labelsTr/mini_001.nii.gz', body: Buffer.from(await encodeNifti(a.label, { gzip: true })) },
    { name: 'Task98_Mini/imagesTs/mini_002.nii.gz', body: Buffer.from(await encodeNifti(b.image, { gzip: true })) },
  ]);
}

before(async () => {
  MINI = await makeMiniMsd();
  files['/mini.tar'] = { body: MINI, ranges: true };
  server = http.createServer((req, res) => {
    const url = req.url ?? '';
    hits.push({ url, range: req.headers.range });
    const f = files[url];
    if (!f) {
      res.writeHead(404).end();
      return;
    }
    const len = f.body.length;
    const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    if (m && f.ranges) {
      const start = Number(m[1]);
      if (start >= len) {
        res.writeHead(416, { 'Content-Range': `bytes */${len}` }).end();
        return;
      }
      res.writeHead(206, { 'Content-Length': len - start, 'Content-Range': `bytes ${start}-${len - 1}/${len}` });
      res.end(f.body.subarray(start));
      return;
    }
    res.writeHead(200, { 'Content-Length': len });
    if (dropNext.has(url)) {
      dropNext.delete(url);
      res.write(f.body.subarray(0, Math.floor(len / 2)), () => setTimeout(() => res.socket?.destroy(), 50));
      return;
    }
    res.end(f.body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
});

function tmpOut(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'msd-dl-'));
}

function hitsFor(url: string, from: number): Hit[] {
  return hits.slice(from).filter((h) => h.url === url);
}

function assertGoodTree(taskDir: string): void {
  assert.ok(fs.readFileSync(path.join(taskDir, 'dataset.json')).equals(DATASET_JSON));
  assert.ok(fs.readFileSync(path.join(taskDir, 'imagesTr/case_001.nii.gz')).equals(BIG));
  assert.equal(fs.readFileSync(path.join(path.dirname(taskDir), LONG_PAX), 'utf8'), 'pax long name');
  assert.equal(fs.readFileSync(path.join(path.dirname(taskDir), LONG_GNU), 'utf8'), 'gnu long name');
  assert.equal(fs.readFileSync(path.join(taskDir, 'prefixed/file.txt'), 'utf8'), 'ustar prefix');
  assert.equal(fs.readlinkSync(path.join(taskDir, 'link_in')), 'dataset.json');
  assert.ok(!fs.existsSync(path.join(taskDir, '._dataset.json')));
  assert.ok(!fs.existsSync(path.join(path.dirname(taskDir), `._${TASK}`)));
  assert.ok(!fs.existsSync(path.join(path.dirname(taskDir), 'PaxHeaders.0')));
}

function assertNoLeftovers(out: string): void {
  const left = fs.readdirSync(out).filter((f) => f.startsWith('.extracting-') || f.endsWith('.part') || f === TASK);
  assert.deepEqual(left, []);
}

// ---------------------------------------------------------------------------------------------------------------

test('the published MD5 table and mirror URL (MONAI DecathlonDataset)', () => {
  assert.equal(msdDefaultUrl('Task06_Lung'), 'https://msd-for-monai.s3-us-west-2.amazonaws.com/Task06_Lung.tar');
  assert.equal(MSD_MD5.Task06_Lung, '8afd997733c7fc0432f71255ba4e52dc');
  assert.equal(Object.keys(MSD_MD5).length, 10);
  assert.deepEqual(parseArgs(['--task', 'Task06_Lung', '--out', 'd', '--md5', 'none', '--v2']), { task: 'Task06_Lung', outDir: 'd', md5: null, v2: true });
  assert.throws(() => parseArgs(['--task', 'Task06_Lung']), /--out is required/);
  assert.throws(() => parseArgs(['--task', 'Task06_Lung', '--out', 'd', '--bogus']), /unknown argument '--bogus'/);
});

test('normal download: MD5 verified, safe extraction (pax/GNU/ustar names, ._ skipped, inner symlink), idempotent rerun', async () => {
  const out = tmpOut();
  try {
    const h0 = hits.length;
    const r = await downloadMsd({ task: TASK, outDir: out, url: `${base}/good.tar`, md5: md5(GOOD) });
    assert.equal(r.taskDir, path.join(out, TASK));
    assert.equal(r.md5, md5(GOOD));
    assert.equal(r.download?.requests, 1);
    assert.equal(r.download?.resumed, 0);
    assertGoodTree(r.taskDir);
    assert.ok(fs.readFileSync(path.join(out, `${TASK}.tar`)).equals(GOOD));
    assert.deepEqual(hitsFor('/good.tar', h0), [{ url: '/good.tar', range: undefined }]);
    assert.equal(fs.readdirSync(out).filter((f) => f.startsWith('.extracting-') || f.endsWith('.part')).length, 0);
    // rerun: already there, no request
    const h1 = hits.length;
    const again = await downloadMsd({ task: TASK, outDir: out, url: `${base}/good.tar`, md5: md5(GOOD) });
    assert.equal(again.download, null);
    assert.equal(hits.length, h1);
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
});

test('gzip archives (.tar.gz) are detected and extracted', async () => {
  const out = tmpOut();
  try {
    const r = await downloadMsd({ task: TASK, outDir: out, url: `${base}/good.tar.gz`, md5: md5(GOOD_GZ), deleteArchive: true });
    assertGoodTree(r.taskDir);
    assert.ok(!fs.existsSync(path.join(out, `${TASK}.tar.gz`)));
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
});

test('a dropped connection resumes with a Range request and finishes', async () => {
  const out = tmpOut();
  try {
    const h0 = hits.length;
    dropNext.add('/drop.tar');
    const r = await downloadMsd({ task: TASK, outDir: out, url: `${base}/drop.tar`, md5: md5(GOOD), retryDelayMs: 10 });
    const reqs = hitsFor('/drop.tar', h0);
    assert.equal(reqs.length, 2);
    assert.equal(reqs[0].range, undefined);
    const m = /^bytes=(\d+)-$/.exec(reqs[1].range ?? '');
    assert.ok(m, `second request has a Range header: ${reqs[1].range}`);
    const resumedAt = Number(m[1]);
    assert.ok(resumedAt > 0 && resumedAt <= Math.floor(GOOD.length / 2), `resumed at ${resumedAt}`);
    assert.equal(r.download?.resumed, 1);
    assert.equal(r.md5, md5(GOOD));
    assertGoodTree(r.taskDir);
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
});

test('a server without Range support: the retry restarts from byte 0 and the result is still exact', async () => {
  const out = tmpOut();
  try {
    const h0 = hits.length;
    dropNext.add('/norange.tar');
    const dest = path.join(out, 'x.tar');
    const r = await downloadFile(`${base}/norange.tar`, dest, { md5: md5(GOOD), retryDelayMs: 10 });
    assert.equal(hitsFor('/norange.tar', h0).length, 2);
    assert.equal(r.resumed, 0);
    assert.ok(fs.readFileSync(dest).equals(GOOD));
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
});

test('a wrong MD5 fails, deletes the download and extracts nothing', async () => {
  const out = tmpOut();
  try {
    await assert.rejects(
      downloadMsd({ task: TASK, outDir: out, url: `${base}/good.tar`, md5: '0'.repeat(32) }),
      new RegExp(`MD5 mismatch: expected ${'0'.repeat(32)}, got ${md5(GOOD)}`),
    );
    assertNoLeftovers(out);
    assert.ok(!fs.existsSync(path.join(out, `${TASK}.tar`)));
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
});

for (const [kind, { tar, error }] of Object.entries(MALICIOUS)) {
  test(`malicious archive (${kind}) is refused with a clear error and leaves no tree`, async () => {
    const parent = tmpOut();
    const out = path.join(parent, 'out');
    try {
      await assert.rejects(downloadMsd({ task: TASK, outDir: out, url: `${base}/${kind}.tar`, md5: md5(tar) }), error);
      assertNoLeftovers(out);
      assert.ok(!fs.existsSync(path.join(parent, EVIL_NAME)));
      assert.ok(!fs.existsSync(path.join(os.tmpdir(), EVIL_NAME)));
    } finally {
      fs.rmSync(parent, { recursive: true, force: true });
    }
  });
}

test('--v2: the extracted MSD task is converted to DatasetXXX_Name (sdk/io/dataset.ts), once', async () => {
  const out = tmpOut();
  try {
    const r = await downloadMsd({ task: 'Task98_Mini', outDir: out, url: `${base}/mini.tar`, md5: md5(MINI), v2: true, v2OutDir: path.join(out, 'nnUNet_raw') });
    assert.equal(r.v2Dir, path.join(out, 'nnUNet_raw', 'Dataset098_Mini'));
    const ds = JSON.parse(fs.readFileSync(path.join(r.v2Dir!, 'dataset.json'), 'utf8'));
    assert.deepEqual(ds.channel_names, { '0': 'CT' });
    assert.deepEqual(ds.labels, { background: 0, cancer: 1 });
    assert.equal(ds.file_ending, '.nii.gz');
    assert.deepEqual(fs.readdirSync(path.join(r.v2Dir!, 'imagesTr')), ['mini_001_0000.nii.gz']);
    assert.deepEqual(fs.readdirSync(path.join(r.v2Dir!, 'imagesTs')), ['mini_002_0000.nii.gz']);
    const img = await readNifti(path.join(r.v2Dir!, 'imagesTr', 'mini_001_0000.nii.gz'));
    const ref = generateCase(1, { size: 'small', shape: [8, 16, 16] }).image;
    assert.deepEqual(img.shape, [8, 16, 16]);
    assert.deepEqual(Array.from(img.data), Array.from(ref.data));
    // rerun: neither downloaded nor converted again
    const h = hits.length;
    const again = await downloadMsd({ task: 'Task98_Mini', outDir: out, url: `${base}/mini.tar`, md5: md5(MINI), v2: true, v2OutDir: path.join(out, 'nnUNet_raw') });
    assert.equal(again.v2Dir, r.v2Dir);
    assert.equal(hits.length, h);
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
});

test('tar reader: name normalization, listing without extracting, truncated and corrupt archives', async () => {
  assert.equal(safeEntryName('./Task06_Lung//imagesTr/x.nii.gz'), 'Task06_Lung/imagesTr/x.nii.gz');
  assert.equal(safeEntryName('Task06_Lung/'), 'Task06_Lung');
  assert.throws(() => safeEntryName('a/../../b'), /'\.\.' path segment/);
  assert.throws(() => safeEntryName('C:\\windows'), /absolute path/);
  assert.throws(() => safeEntryName('a\\..\\..\\b'), /'\.\.' path segment/);
  assert.throws(() => safeEntryName('./'), /empty name/);
  const dir = tmpOut();
  try {
    const f = path.join(dir, 'a.tar');
    fs.writeFileSync(f, GOOD);
    const listed = await extractTar(f, null);
    assert.deepEqual(
      listed.entries.map((e) => e.name),
      [TASK, `${TASK}/dataset.json`, `${TASK}/imagesTr/case_001.nii.gz`, LONG_PAX, LONG_GNU, `${TASK}/prefixed/file.txt`, `${TASK}/link_in`],
    );
    assert.deepEqual(listed.skipped, [`._${TASK}`, `${TASK}/._dataset.json`]);
    assert.deepEqual(fs.readdirSync(dir), ['a.tar']);
    fs.writeFileSync(f, GOOD.subarray(0, 4096 + 1000)); // cut inside case_001's data
    await assert.rejects(extractTar(f, path.join(dir, 'x')), /truncated tar: data of 'Task99_Test\/imagesTr\/case_001.nii.gz'/);
    assert.deepEqual(fs.readdirSync(path.join(dir, 'x')), []);
    const bad = Buffer.from(GOOD);
    bad[600] ^= 0xff; // inside the second header's name
    fs.writeFileSync(f, bad);
    await assert.rejects(extractTar(f, null), /corrupt tar header \(checksum mismatch\) at byte 512/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
