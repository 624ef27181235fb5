/**
 * Whether the webgpu tests can run here, and why not. On CPU machines they run on Mesa's software OpenGL ES
 * (Debian: libegl-mesa0 libgles2; .ci/run installs them). Without it they are skipped with the reason, so `npm test`
 * passes on a machine with Node.js only; NNUNET_REQUIRE_WEBGPU=1 (set by .ci/run) turns the skip into a failure.
 */
import { spawnSync } from 'child_process';
import * as path from 'path';

let cached: string | null | undefined;

/** null when webgpu can start here; otherwise the reason. Probed in a child process (Dawn aborts are not catchable). */
export function webgpuUnavailable(): string | null {
  if (cached !== undefined) return cached;
  const root = path.resolve(__dirname, '../..');
  const probe = `require('${root}/sdk/network/backend').initBackend({backend:'webgpu',log:false}).then(()=>process.exit(0),(e)=>{console.error(e.message);process.exit(3)})`;
  const r = spawnSync(process.execPath, ['--require', 'ts-node/register/transpile-only', '-e', probe], {
    encoding: 'utf8',
    cwd: root,
    env: { ...process.env, TS_NODE_TRANSPILE_ONLY: '1' },
    timeout: 60_000,
  });
  cached = r.status === 0 ? null : `webgpu backend does not start here: ${(r.stderr || r.error?.message || `exit ${r.status}`).trim().split('\n').filter((l) => !/^Warning|artificially|^\s*at |^$/.test(l)).slice(-1)[0]}`;
  if (cached && process.env.NNUNET_REQUIRE_WEBGPU === '1') throw new Error(`NNUNET_REQUIRE_WEBGPU=1 but ${cached}`);
  return cached;
}

/** The backends to run a backend-parametrised test on: the given ones plus webgpu when it starts here. */
export function withWebgpu<T extends string>(backends: readonly T[]): Array<T | 'webgpu'> {
  return webgpuUnavailable() === null ? [...backends, 'webgpu'] : [...backends];
}
