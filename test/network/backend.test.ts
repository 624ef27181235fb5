/** Backend selection: explicit requests, no silent fallback, environment override, doctor report. */
import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { backendInfo, doctor, initBackend, useNativeConv3d } from '../../sdk/network/backend';

describe('backend selection', () => {
  it('selects wasm explicitly and reports it; cpu on request; logs one line', async () => {
    const lines: string[] = [];
    const w = await initBackend({ backend: 'wasm', log: (l) => lines.push(l) });
    assert.equal(w.backend, 'wasm');
    assert.equal(tf.getBackend(), 'wasm');
    assert.match(lines[0], /^nnunet-ts backend: wasm/);
    // our conv kernels must be live (Node >= 16 has SIMD); 'off' would silently cost ~30 % of a 3d training step
    assert.match(lines[0], /conv kernels (fma|simd)\)$/);
    assert.ok(w.convKernels === 'fma' || w.convKernels === 'simd');
    assert.equal(useNativeConv3d(), false);
    const c = await initBackend({ backend: 'cpu', log: false });
    assert.equal(c.backend, 'cpu');
    assert.equal(backendInfo().backend, 'cpu');
  });

  it('an explicitly requested backend that cannot load is an error naming why (never a silent fallback)', async () => {
    let tfNodeInstalled = true;
    try {
      require.resolve('@tensorflow/tfjs-node');
    } catch {
      tfNodeInstalled = false;
    }
    let gpuInstalled = true;
    try {
      require.resolve('@tensorflow/tfjs-node-gpu');
    } catch {
      gpuInstalled = false;
    }
    if (!tfNodeInstalled && !gpuInstalled) {
      await assert.rejects(
        initBackend({ backend: 'tensorflow', log: false }),
        /could not initialise the requested tfjs backend 'tensorflow': @tensorflow\/tfjs-node-gpu not loadable/,
      );
      // the previous backend stays selected and consistent
      assert.equal(tf.getBackend(), backendInfo().backend);
    }
  });

  it('NNUNET_BACKEND overrides the automatic choice; bad values are rejected', async () => {
    const old = process.env.NNUNET_BACKEND;
    try {
      process.env.NNUNET_BACKEND = 'cpu';
      assert.equal((await initBackend({ log: false })).backend, 'cpu');
      process.env.NNUNET_BACKEND = 'cuda';
      await assert.rejects(initBackend({ log: false }), /NNUNET_BACKEND: unknown backend 'cuda' \(expected tensorflow, webgpu, webgl, wasm, cpu or auto\)/);
      // webgl is the web app's (browsers only): asked for under Node it is an error that says so
      delete process.env.NNUNET_BACKEND;
      await assert.rejects(initBackend({ backend: 'webgl', log: false }), /requested tfjs backend 'webgl': webgl: webgl exists in browsers only/);
      // automatic mode keeps an existing selection (idempotent)
      delete process.env.NNUNET_BACKEND;
      assert.equal((await initBackend({ backend: 'auto', log: false })).backend, 'cpu');
    } finally {
      if (old === undefined) delete process.env.NNUNET_BACKEND;
      else process.env.NNUNET_BACKEND = old;
    }
  });

  it('doctor reports backend, versions, threads and a speed probe', async () => {
    const r = await doctor({ backend: 'wasm' });
    assert.equal(r.backend, 'wasm');
    assert.equal(r.versions.tfjs, '4.22.0');
    assert.equal(r.threads, 1);
    assert.ok(r.probe.gflops > 0 && Number.isFinite(r.probe.gflops));
    assert.match(r.line, /backend wasm .* GFLOP\/s$/);
  });
});
