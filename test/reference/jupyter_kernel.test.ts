// reference suite: python3, Jupyter + tslab (kernel-setup/install.sh) -- notebooks run in the tslab kernel; strip_outputs.py
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

const ROOT = path.resolve(__dirname, '../..');
const PY = '/usr/bin/python3';
const KERNEL = path.join(ROOT, '.jupyter/share/jupyter/kernels/tslab/kernel.json');

function notebook(cells: string[], outputs = false): unknown {
  return {
    cells: cells.map((src, i) => ({
      cell_type: 'code',
      execution_count: outputs ? i + 1 : null,
      metadata: outputs ? { execution: { 'iopub.status.busy': '2026-01-01T00:00:00Z' } } : {},
      outputs: outputs ? [{ name: 'stdout', output_type: 'stream', text: ['x\n'] }] : [],
      source: src,
    })),
    metadata: { kernelspec: { display_name: 'TypeScript', language: 'typescript', name: 'tslab' } },
    nbformat: 4,
    nbformat_minor: 5,
  };
}

function tmpDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'nnunet-ts-kernel-setup-'));
}

test('strip_outputs.py clears outputs, counts and timing, is idempotent, and --check reports', () => {
  const dir = tmpDir();
  const nb = path.join(dir, 'a.ipynb');
  fs.writeFileSync(nb, JSON.stringify(notebook(['const a = 1;\nconsole.log(a)', 'a'], true)));
  const py = PY;
  const script = path.join(ROOT, 'kernel-setup/strip_outputs.py');
  assert.equal(spawnSync(py, [script, '--check', nb]).status, 1, '--check flags outputs');
  const r = spawnSync(py, [script, nb], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const text = fs.readFileSync(nb, 'utf8');
  const s = JSON.parse(text);
  for (const c of s.cells) {
    assert.deepEqual(c.outputs, []);
    assert.equal(c.execution_count, null);
    assert.deepEqual(c.metadata, {});
  }
  assert.deepEqual(s.cells[0].source, ['const a = 1;\n', 'console.log(a)'], 'sources as line lists, like nbformat');
  assert.equal(s.metadata.kernelspec.name, 'tslab');
  const mtime = fs.statSync(nb).mtimeMs;
  const again = spawnSync(py, [script, nb], { encoding: 'utf8' });
  assert.equal(again.status, 0);
  assert.equal(again.stdout, '', 'nothing to strip the second time');
  assert.equal(fs.readFileSync(nb, 'utf8'), text);
  assert.equal(fs.statSync(nb).mtimeMs, mtime, 'not rewritten');
  assert.equal(spawnSync(py, [script, '--check', nb]).status, 0);
  fs.rmSync(dir, { recursive: true, force: true });
});

// the reference suite fails (never skips) when what it needs is missing
test('setup: python3 with nbclient/nbconvert and the tslab kernel are installed (kernel-setup/install.sh)', () => {
  assert.ok(fs.existsSync(PY), `no ${PY}: apt-get install -y python3 (see README, reference suite)`);
  assert.equal(spawnSync(PY, ['-c', 'import nbclient, nbformat, nbconvert']).status, 0, `no nbclient/nbconvert for ${PY}: run kernel-setup/install.sh`);
  assert.ok(fs.existsSync(KERNEL), `tslab kernel not registered in .jupyter/: run kernel-setup/install.sh`);
});

test('run_notebooks.py: tslab runs a notebook that imports "nnunet-ts", plotly.js is embedded once, a failing cell fails the run', () => {
  const dir = tmpDir();
  const good = path.join(dir, 'good.ipynb');
  const bad = path.join(dir, 'bad.ipynb');
  fs.writeFileSync(
    good,
    JSON.stringify(
      notebook([
        'import { barChart, lineChart, show, showTable, makeVolume, numVoxels } from "nnunet-ts";\nshow(barChart({ x: ["a", "b"], y: [1, 2] }));',
        'show(lineChart({ y: [3, 1, 2] }));\nshowTable([{ case: "c1", dice: 0.9 }]);',
        'console.log(process.env.NNUNET_NOTEBOOK_SHORT, process.cwd(), numVoxels(makeVolume(new Float32Array(6), [1, 2, 3]).shape));',
        'import { progress } from "nnunet-ts";\ndelete process.env.NNUNET_PROGRESS;\nfor (const step of ["step a", "step b"]) {\n  const b = progress(step, 20, { group: "demo" });\n' +
          '  for (let i = 0; i < 20; i++) { b.tick(); await new Promise((r) => setTimeout(r, 30)); }\n  b.done();\n}',
      ]),
    ),
  );
  fs.writeFileSync(bad, JSON.stringify(notebook(['const n: number = "not a number";', 'console.log("unreached")'])));
  const out = path.join(dir, 'out');
  const r = spawnSync(PY, [path.join(ROOT, 'kernel-setup/run_notebooks.py'), good, bad, '--out', out, '--timeout', '300'], {
    encoding: 'utf8',
    cwd: ROOT,
  });
  assert.equal(r.status, 1, `bad.ipynb must fail the run\n${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /good\s+ok/);
  assert.match(r.stdout, /bad\s+FAILED/);
  assert.match(r.stderr, /Type 'string' is not assignable to type 'number'/);
  const g = JSON.parse(fs.readFileSync(path.join(out, 'good.ipynb'), 'utf8'));
  const htmls: string[] = g.cells.flatMap((c: { outputs: { data?: Record<string, string | string[]> }[] }) =>
    c.outputs.filter((o) => o.data?.['text/html']).map((o) => [o.data!['text/html']].flat().join('')),
  );
  assert.equal(htmls.filter((h) => h.includes('plotly.js 4.1.1')).length, 1, 'the library once per notebook');
  assert.equal(htmls.filter((h) => h.includes('nnunet-ts-figure')).length, 2, 'one div per figure');
  assert.equal(htmls.filter((h) => h.startsWith('<table')).length, 1);
  const stdout = g.cells[2].outputs.map((o: { text?: string[] }) => (o.text ?? []).join('')).join('');
  assert.equal(stdout.trim(), `1 ${ROOT} 6`, 'short schedule flag, repo root as cwd, SDK imported by package name');
  // progress: one display updated in place (nbclient applies update_display_data to it), nothing on stderr
  const prog = g.cells[3].outputs as { output_type: string; name?: string; data?: Record<string, string | string[]> }[];
  assert.deepEqual(prog.map((o) => o.output_type), ['display_data'], JSON.stringify(prog).slice(0, 2000));
  const progHTML = [prog[0].data!['text/html']].flat().join('');
  assert.match(progHTML, /nnunet-progress/);
  assert.match(progHTML, /✓.*step b.*20\/20/s, 'the last state: step b finished, in the row of step a');
  assert.doesNotMatch(progHTML, /step a/);
  const stderr = g.cells.flatMap((c: { outputs: { name?: string }[] }) => c.outputs.filter((o) => o.name === 'stderr'));
  assert.deepEqual(stderr, [], 'no stderr output in the notebook');
  assert.ok(fs.statSync(path.join(out, 'good.html')).size > 1e6, 'HTML export with the plot');
  assert.ok(fs.existsSync(path.join(out, 'bad.ipynb')), 'a failed notebook is still written for inspection');
  // the runner's figure screenshots (headless Chromium): one PNG per figure of the good notebook, an index naming the cell
  assert.deepEqual(fs.readdirSync(path.join(out, 'screenshots', 'good')).sort(), ['fig01.png', 'fig02.png']);
  assert.match(fs.readFileSync(path.join(out, 'screenshots', 'index.md'), 'utf8'), /good\/fig02\.png\) \| cell 2 \(In \[2\]\)/);
  assert.match(r.stdout, /screenshots\s+ok/);
  fs.rmSync(dir, { recursive: true, force: true });
});
