/**
 * The SDK's shape (issue 27): no import cycle between sdk/ folders (each concept's folder depends only on folders
 * below it), and no source file beyond ~500 lines without a stated reason in its header.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';

const SDK = path.join(__dirname, '..', 'sdk');

function sources(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? sources(p) : e.name.endsWith('.ts') ? [p] : [];
  });
}

/** Folder of a file under sdk/ ('.' for the root files such as paths.ts, task.ts). */
function folderOf(file: string): string {
  const parts = path.relative(SDK, file).split(path.sep);
  return parts.length > 1 ? parts[0] : '.';
}

/** Edges folder -> folder from relative imports (type-only imports count: a reader follows them too). */
function folderGraph(): Map<string, Map<string, string[]>> {
  const g = new Map<string, Map<string, string[]>>();
  for (const f of sources(SDK)) {
    const src = fs.readFileSync(f, 'utf8');
    for (const m of src.matchAll(/(?:from|import\()\s*'(\.[^']+)'/g)) {
      let target = path.resolve(path.dirname(f), m[1]);
      if (fs.existsSync(target) && fs.statSync(target).isDirectory()) target = path.join(target, 'index');
      const a = folderOf(f);
      const b = folderOf(`${target}.ts`);
      // the root modules (task.ts, index.ts) and the CLI sit on top; paths.ts and chain.ts are leaves
      if (a === b || a === '.' || a === 'cli') continue;
      if (!g.has(a)) g.set(a, new Map());
      const edges = g.get(a)!;
      if (!edges.has(b)) edges.set(b, []);
      edges.get(b)!.push(`${path.relative(SDK, f)} -> ${m[1]}`);
    }
  }
  return g;
}

test('no import cycle between sdk/ folders', () => {
  const g = folderGraph();
  const cycles: string[] = [];
  const state = new Map<string, 'active' | 'done'>();
  const stack: string[] = [];
  const visit = (v: string) => {
    state.set(v, 'active');
    stack.push(v);
    for (const w of g.get(v)?.keys() ?? []) {
      if (state.get(w) === 'active') {
        const cyc = [...stack.slice(stack.indexOf(w)), w];
        const why = cyc.slice(0, -1).map((a, i) => g.get(a)!.get(cyc[i + 1])![0]);
        cycles.push(`${cyc.join(' -> ')}  (${why.join('; ')})`);
      } else if (!state.has(w)) visit(w);
    }
    stack.pop();
    state.set(v, 'done');
  };
  for (const v of g.keys()) if (!state.has(v)) visit(v);
  assert.deepEqual(cycles, []);
  // the graph is not trivially empty (the check would pass on nothing)
  assert.ok((g.get('training')?.size ?? 0) >= 5);
});

test('no sdk/ file over ~500 lines without a reason in its header', () => {
  const tooLong = sources(SDK)
    .filter((f) => fs.readFileSync(f, 'utf8').split('\n').length > 520)
    .filter((f) => {
      const header = fs.readFileSync(f, 'utf8').split('*/')[0];
      return !/One file because/.test(header);
    })
    .map((f) => path.relative(SDK, f));
  assert.deepEqual(tooLong, []);
});

test('every section the code cites exists in docs/ (reference §N, A.N, toolchain.md §N)', () => {
  const docs = path.join(__dirname, '..', 'docs');
  const headings = (f: string) =>
    fs
      .readFileSync(path.join(docs, f), 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('#'))
      .map((l) => l.replace(/^#+\s*/, ''));
  const ref = headings('nnunet-reference.md');
  const tool = headings('toolchain.md');
  const has = (hs: string[], sec: string) =>
    hs.some((h) => h.startsWith(`${sec} `) || h.startsWith(`${sec}. `) || h.startsWith(`Appendix ${sec} `) || h.startsWith(`${sec}.`));
  const missing: string[] = [];
  let cited = 0;
  for (const f of sources(SDK)) {
    const src = fs.readFileSync(f, 'utf8');
    for (const m of src.matchAll(/reference (?:§)?((?:\d+(?:\.\d+)*)|[A-C](?:\.\d+)?)(?:[–-](\d+(?:\.\d+)*))?/g)) {
      if (!/^\d|^[A-C]/.test(m[1])) continue;
      cited++;
      if (!has(ref, m[1])) missing.push(`${path.relative(SDK, f)}: reference ${m[1]}`);
    }
    for (const m of src.matchAll(/toolchain\.md §(\d+)/g)) {
      cited++;
      if (!has(tool, m[1])) missing.push(`${path.relative(SDK, f)}: toolchain.md §${m[1]}`);
    }
  }
  assert.ok(cited >= 10, `found only ${cited} citations`);
  assert.deepEqual(missing, []);
  assert.match(fs.readFileSync(path.join(docs, 'nnunet-reference.md'), 'utf8'), /\*\*S1\*\* \| `MIC-DKFZ\/nnUNet`/, 'the source legend');
});

test('the browser entry (sdk/browser.ts) reaches no Node-only module by a static import', async () => {
  // the web app's own bundle options (web/build.ts): what the page gets is what is checked
  const { browserBuildOptions, NODE_BUILTINS } = await import('../web/build');
  const esbuild = await import('esbuild');
  const out = fs.mkdtempSync(path.join(require('os').tmpdir(), 'nnunet-browser-'));
  try {
    const r = await esbuild.build({ ...browserBuildOptions(path.join(SDK, 'browser.ts'), path.join(out, 'b.js')), sourcemap: false, minify: false });
    const inputs = r.metafile!.inputs;
    // follow import statements only: a require() is lazy, and the SDK's are all behind isNode() (checked below)
    const reached = new Set<string>();
    const stack = ['sdk/browser.ts'];
    const bad: string[] = [];
    while (stack.length) {
      const f = stack.pop()!;
      if (reached.has(f)) continue;
      reached.add(f);
      for (const i of inputs[f]?.imports ?? []) {
        if (i.kind !== 'import-statement' && i.kind !== 'dynamic-import') continue;
        if (NODE_BUILTINS.includes(i.path)) bad.push(`${f} imports '${i.path}'`);
        else if (!i.external && inputs[i.path]) stack.push(i.path);
      }
    }
    assert.deepEqual(bad, []);
    const sdkFiles = [...reached].filter((f) => f.startsWith('sdk/'));
    for (const f of ['sdk/io/nifti_codec.ts', 'sdk/inference/predict_volume.ts', 'sdk/model/web_model.ts', 'sdk/network/generic_unet.ts', 'sdk/preprocessing/preprocessing.ts']) {
      assert.ok(sdkFiles.includes(f), `${f} is part of the browser build`);
    }
    // the lazy require()s of Node modules in sdk/ sit in Node-only branches; this list is reviewed
    const lazy = Object.entries(inputs)
      .filter(([f]) => f.startsWith('sdk/'))
      .flatMap(([f, v]) => v.imports.filter((i) => i.kind === 'require-call' && NODE_BUILTINS.includes(i.path)).map((i) => `${f}: ${i.path}`))
      .sort();
    assert.deepEqual(lazy, ['sdk/network/backend.ts: fs', 'sdk/network/backend.ts: os', 'sdk/network/wasm_conv.ts: v8']);
    // one tfjs-core in the bundle (a second copy would have its own kernel registry)
    assert.equal(Object.keys(inputs).filter((f) => /tfjs-core\/dist\/(index|tf-core[^/]*)\.js$/.test(f)).length, 1);
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
});
