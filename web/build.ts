/**
 * The web app's build (esbuild): web/app/main.ts and the SDK's Node-free core (sdk/browser.ts) in one ES module,
 * plus index.html, style.css and tfjs-backend-wasm's .wasm files. No CDN: everything the page loads is in the
 * output folder. `nnunet-ts serve` builds into .cache/web-app when the packaged build (dist/web) is missing or older
 * than the sources; `npm run build:web` writes dist/web for the package.
 */
import * as fs from 'fs';
import * as path from 'path';
import type { BuildOptions, Metafile, Plugin } from 'esbuild';

export const ROOT = path.resolve(__dirname, '..');
export const APP_SOURCES = [path.join(ROOT, 'web', 'app'), path.join(ROOT, 'sdk')];

/** Node's built-in modules that sdk/ and the tfjs packages mention (only in lazily taken, Node-only branches). */
export const NODE_BUILTINS = ['fs', 'path', 'os', 'util', 'zlib', 'crypto', 'worker_threads', 'perf_hooks', 'v8', 'child_process', 'url', 'module'];

/**
 * esbuild resolves a `require()` of a package to its CommonJS "main" (tfjs: the *.node.js builds) but an `import` to
 * its ES "module": sdk/network/backend.ts requires the optional backends, so tfjs-core would be bundled twice (two
 * kernel registries). Every @tensorflow package goes to its ES build; Node-only modules (Dawn, tfjs-node) become
 * stubs that throw when called.
 */
function browserResolvePlugin(): Plugin {
  return {
    name: 'nnunet-ts-browser',
    setup(build) {
      build.onResolve({ filter: /^@tensorflow\/tfjs(-core|-backend-wasm|-backend-webgpu|-backend-webgl|-backend-cpu|-converter|-data|-layers)?$/ }, (a) => {
        if (a.path === '@tensorflow/tfjs-node' || a.path === '@tensorflow/tfjs-node-gpu') return undefined;
        const dir = path.dirname(require.resolve(`${a.path}/package.json`, { paths: [ROOT] }));
        const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as { module?: string; main: string };
        return { path: path.join(dir, pkg.module ?? pkg.main) };
      });
      build.onResolve({ filter: /^(@tensorflow\/tfjs-node(-gpu)?|\.\/webgpu\/dawn)$/ }, (a) => ({ path: a.path, namespace: 'node-only' }));
      build.onLoad({ filter: /.*/, namespace: 'node-only' }, (a) => ({
        contents: `const fail = () => { throw new Error(${JSON.stringify(`${a.path} exists only under Node.js`)}); }; module.exports = new Proxy({}, { get: () => fail });`,
        loader: 'js',
      }));
    },
  };
}

/** The bundle options: one place for the app build and the architecture test's Node-free check. */
export function browserBuildOptions(entry: string, outfile: string): BuildOptions {
  return {
    entryPoints: [entry],
    outfile,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: ['chrome113', 'firefox121', 'safari17'],
    mainFields: ['browser', 'module', 'main'],
    external: NODE_BUILTINS,
    plugins: [browserResolvePlugin()],
    define: { 'process.env.NODE_ENV': '"production"' },
    sourcemap: true,
    minify: true,
    metafile: true,
    logLevel: 'silent',
    absWorkingDir: ROOT,
  };
}

export const WASM_FILES = ['tfjs-backend-wasm.wasm', 'tfjs-backend-wasm-simd.wasm', 'tfjs-backend-wasm-threaded-simd.wasm'];

function newestMtime(dirs: string[]): number {
  let t = 0;
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else t = Math.max(t, fs.statSync(p).mtimeMs);
    }
  };
  dirs.filter((d) => fs.existsSync(d)).forEach(walk);
  return t;
}

/** Whether `outDir` holds a complete build at least as new as the sources. */
export function isBuildFresh(outDir: string): boolean {
  const files = ['index.html', 'style.css', 'app.js', ...WASM_FILES.map((f) => `wasm/${f}`)].map((f) => path.join(outDir, f));
  if (!files.every((f) => fs.existsSync(f))) return false;
  if (!fs.existsSync(APP_SOURCES[0])) return true; // an installed package: the build is what ships
  const built = Math.min(...files.map((f) => fs.statSync(f).mtimeMs));
  return built >= newestMtime(APP_SOURCES);
}

/** Build the app into `outDir` (replaced as a whole: written next to it, then renamed). */
export async function buildWebApp(outDir: string): Promise<{ outDir: string; bytes: number; metafile: Metafile }> {
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const esbuild = require('esbuild') as typeof import('esbuild');
  const tmp = `${outDir}.tmp-${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(path.join(tmp, 'wasm'), { recursive: true });
  const r = await esbuild.build(browserBuildOptions(path.join(ROOT, 'web', 'app', 'main.ts'), path.join(tmp, 'app.js')));
  for (const f of ['index.html', 'style.css']) fs.copyFileSync(path.join(ROOT, 'web', 'app', f), path.join(tmp, f));
  const wasmDir = path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json', { paths: [ROOT] })), 'dist');
  for (const f of WASM_FILES) fs.copyFileSync(path.join(wasmDir, f), path.join(tmp, 'wasm', f));
  fs.rmSync(outDir, { recursive: true, force: true });
  fs.mkdirSync(path.dirname(outDir), { recursive: true });
  fs.renameSync(tmp, outDir);
  return { outDir, bytes: fs.statSync(path.join(outDir, 'app.js')).size, metafile: r.metafile! };
}

/**
 * The app to serve: the packaged build (dist/web) when it is current, else .cache/web-app, built when missing or
 * older than the sources (`log` hears about a build).
 */
export async function ensureWebApp(log: (line: string) => void = () => undefined): Promise<string> {
  const packaged = path.join(ROOT, 'dist', 'web');
  if (isBuildFresh(packaged)) return packaged;
  const dir = path.join(ROOT, '.cache', 'web-app');
  if (isBuildFresh(dir)) return dir;
  const t0 = Date.now();
  const r = await buildWebApp(dir);
  log(`built the web app into ${dir} (app.js ${(r.bytes / 2 ** 20).toFixed(1)} MiB, ${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  return dir;
}

if (require.main === module) {
  const out = path.resolve(process.argv[2] ?? path.join(ROOT, 'dist', 'web'));
  buildWebApp(out).then(
    (r) => console.log(`web app: ${r.outDir} (app.js ${(r.bytes / 2 ** 20).toFixed(1)} MiB)`),
    (e) => {
      console.error(e);
      process.exit(1);
    },
  );
}
