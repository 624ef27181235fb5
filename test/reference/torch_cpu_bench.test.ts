// reference suite: python3-torch 1.13 -- bench/python/torch_cpu_bench.py, the PyTorch side of bench train / network / predict, times a tiny network in every mode and returns sane JSON for ours' network
/**
 * The same-run PyTorch comparison of the CPU benches (bench/torch_cpu.ts): a tiny Generic_UNet (patch 8x8x8 and 8x8,
 * two resolution stages, 4 base features) timed once in each mode. runTorch itself refuses a result whose parameter
 * count or forward FLOPs differ from ours (sdk/network/architecture.ts), so `ok` also says PyTorch built our network.
 * Timings are not checked beyond being positive and finite: this is not a speed test. Needs Debian's python3-torch
 * at /usr/bin/python3 (NNUNET_REFERENCE_PYTHON overrides).
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import type { UNetPlansConfiguration } from '../../sdk/network/architecture';
import { ratio, runTorch, TorchRun, torchNote, torchSeconds, TorchWhat } from '../../bench/torch_cpu';

const tiny3d: UNetPlansConfiguration = {
  pool_op_kernel_sizes: [[2, 2, 2]],
  conv_kernel_sizes: [[3, 3, 3], [3, 3, 3]],
  UNet_base_num_features: 4,
  patch_size: [8, 8, 8],
  batch_size: 2,
};
const tiny2d: UNetPlansConfiguration = { ...tiny3d, pool_op_kernel_sizes: [[2, 2]], conv_kernel_sizes: [[3, 3], [3, 3]], patch_size: [8, 8] };

test('every mode on a tiny 3d and 2d network: sane JSON, our network (parameters, FLOPs), the threads asked for', () => {
  const whats: TorchWhat[] = ['train_step', 'gradients', 'forward', 'tile'];
  const runs: TorchRun[] = [
    ...whats.map((what) => ({ name: `3d ${what}`, what, cfg: tiny3d, numClasses: 3, batchDice: false, batch: what === 'tile' ? 1 : 2, threads: 1, iterations: 1 })),
    { name: '3d tile mirrored', what: 'tile', cfg: tiny3d, numClasses: 3, batchDice: false, batch: 1, threads: 1, iterations: 1, mirror: true },
    { name: '2d train_step', what: 'train_step', cfg: tiny2d, numClasses: 3, batchDice: true, batch: 3, threads: 2, iterations: 2 },
  ];
  const out = runTorch(runs);
  assert.equal(out.length, runs.length);
  out.forEach((o, i) => {
    assert.ok(o.ok, `${runs[i].name}: ${o.ok ? '' : o.reason}`);
    const r = o.result;
    assert.equal(r.name, runs[i].name);
    assert.equal(r.what, runs[i].what);
    assert.equal(r.threads, runs[i].threads);
    assert.equal(r.all_s.length, runs[i].iterations);
    assert.ok(Number.isFinite(r.median_s) && r.median_s > 0, `${r.name}: median_s ${r.median_s}`);
    assert.ok(Number.isFinite(r.gflops) && r.gflops > 0, `${r.name}: gflops ${r.gflops}`);
    assert.match(torchSeconds(o, 3), /^\d+\.\d{3}$/);
    assert.match(ratio(2 * r.median_s, o), /^2\.00$/);
  });
  // the mirrored tile counts 8 forwards of work, the plain one 1
  const [plain, mirrored] = [out[3], out[4]].map((o) => (o.ok ? o.result : assert.fail('no result')));
  assert.equal(plain.forward_gflop, mirrored.forward_gflop);
  assert.ok(Math.abs((mirrored.gflops * mirrored.median_s) / (plain.gflops * plain.median_s) - 8) < 1e-9);
  assert.match(torchNote(out), /^PyTorch \S+ on the CPU/);
});

test('a missing Python is said so, with no figure: "not available", ratio "-"', () => {
  const run: TorchRun = { name: 'x', what: 'forward', cfg: tiny3d, numClasses: 3, batchDice: false, batch: 1, threads: 1, iterations: 1 };
  const [o] = runTorch([run], null, '/nonexistent/python3');
  assert.equal(o.ok, false);
  assert.equal(torchSeconds(o), 'not available (no /nonexistent/python3)');
  assert.equal(ratio(1, o), '-');
  assert.equal(torchNote([o]), 'PyTorch: not available (no /nonexistent/python3)');
  assert.equal(runTorch([run], 'not run (--torch off)')[0].ok, false);
});
