/**
 * `npm run bench -- network [--backend wasm|cpu|webgpu] [--iters N] [--stock-depth D] [--stock off] [--only 3d|2d]
 *   [--gradient-workers N|auto] [--profile] [--torch off]`
 *
 * On webgpu: bench/network_webgpu.ts (both convolution formulations, the Lung network with --only lung).
 *
 * Hippocampus 3d_fullres (batch 7, 40x56x40) and 2d (batch 281, 56x40) networks from the official v1 plans:
 * forward and forward+backward seconds per iteration and achieved GFLOP/s with our ops, and stock tfjs ops on the
 * same backend. Stock tfjs-wasm Conv3D is ~100x slower, so it is timed on ONE full-resolution layer with a reduced
 * depth (--stock-depth, default 4 slices), median of 3 runs, and extrapolated to the network at the measured GFLOP/s
 * (marked "extrap.").
 * Forward+backward is one training step's gradients as the trainer computes them (DC+CE with deep supervision, batch
 * Dice per the plans, the trainer's wasm chunks). GFLOP/s count conv/transposed-conv/head multiply-adds only (forward
 * F, forward+backward 3F); the extra no-tape forwards that exact batch Dice needs with chunks (2d) are not counted as
 * useful work. GFLOP/CPU-s divides by the process CPU time instead of wall
 * time: wasm is single-threaded, so it is the rate a dedicated core would give on this shared machine.
 * With gradient workers (default 'auto', as the trainer: cores - 1, at most 3; 0 skips the row) the training step is
 * timed once more, split across this thread and the workers the way trainFold does. That row uses more than one core;
 * the op speedup (the issue's per-core comparison) is the single-thread row. --profile runs one more single-thread
 * training step under tf.profile and prints its kernel time per tfjs kernel. Stock tfjs-wasm Conv3D cannot use a
 * second core itself: its kernel (NDHWCConv3DImpl) is a plain loop without the backend's thread pool.
 *
 * PyTorch in the same run (bench/torch_cpu.ts; --torch off skips it): right after ours, each network's forward (no_grad)
 * and forward+backward (the same DC+CE deep-supervision loss and batch Dice, up to backward; no clip/SGD, as ours)
 * in PyTorch 1.13 on the CPU, fp32, same batch and patch, with ours' thread count (1 for the single-thread rows,
 * 1 + workers for the gradient-worker row); median of N after one warm-up. The last table prints ours, PyTorch's and
 * ours / PyTorch. --stock off skips the stock-tfjs layer rows.
 */
import * as tf from '@tensorflow/tfjs';
import { initBackend, BackendName } from '../sdk/network/backend';
import { describeNetwork, forwardFlops } from '../sdk/network/architecture';
import { GenericUNet } from '../sdk/network/generic_unet';
import { conv2d, conv3d } from '../sdk/network/ops';
import { deepSupervisionWeights } from '../sdk/training/dice_ce_loss';
import { gradientWorkerCount, microBatchSize, stepGradients } from '../sdk/training/trainer';
import { GradientWorkers } from '../sdk/training/data_parallel';
import { arg, printTable } from './script';
import { ratio, runTorch, torchDisabled, torchGflops, torchNote, TorchOutcome, torchSeconds } from './torch_cpu';
import { hippocampus, webgpuNetworkBench } from './network_webgpu';


/** CPU seconds of the last timeIt (median run): wasm runs on one thread, so GFLOP per CPU-second is robust to
 *  other processes competing for the cores, where wall-clock GFLOP/s is not. */
let lastCpu = 0;

async function timeIt(iters: number, f: () => Promise<void>): Promise<number> {
  const ts: [number, number][] = [];
  for (let i = 0; i < iters; i++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    await f();
    const c = process.cpuUsage(c0);
    ts.push([(performance.now() - t0) / 1000, (c.user + c.system) / 1e6]);
  }
  ts.sort((a, b) => a[0] - b[0]);
  const m = ts[Math.floor(ts.length / 2)];
  lastCpu = m[1];
  return m[0];
}

/**
 * Runs per single-layer timing (median), stock included: one stock run swung the extrapolated network time from
 * 1800 s to 2535 s between two runs on this shared host; the layer runs are seconds long, so three are affordable.
 */
const LAYER_ITERS = 3;

/**
 * Kernel time per tfjs kernel of a profiled step, largest first, and the convolution / rest split. Leaf kernels only:
 * a customGrad's "unnamed scope" entry times the kernels it runs, which are listed themselves.
 */
async function kernelTable(prof: Awaited<ReturnType<typeof tf.profile>>): Promise<string> {
  const by = new Map<string, { ms: number; calls: number }>();
  for (const k of prof.kernels) {
    if (k.name === 'unnamed scope') continue;
    const e = by.get(k.name) ?? { ms: 0, calls: 0 };
    e.ms += (await k.kernelTimeMs) as number;
    e.calls++;
    by.set(k.name, e);
  }
  const total = [...by.values()].reduce((a, e) => a + e.ms, 0);
  const conv = ['Conv2D', 'FusedConv2D', 'Conv3D', 'Conv3DBackpropInputV2', 'Conv3DBackpropFilterV2', 'Conv2DBackpropInput']
    .reduce((a, n) => a + (by.get(n)?.ms ?? 0), 0);
  const rows = [...by].sort((a, b) => b[1].ms - a[1].ms).slice(0, 12);
  const lines = rows.map(([n, e]) => `  ${n.padEnd(24)} ${(e.ms / 1000).toFixed(2).padStart(7)} s  ${String(e.calls).padStart(5)} calls  ${((100 * e.ms) / total).toFixed(1).padStart(5)} %`);
  lines.push(`  total ${(total / 1000).toFixed(2)} s: convolutions ${(conv / 1000).toFixed(2)} s, everything else ${((total - conv) / 1000).toFixed(2)} s`);
  return lines.join('\n');
}

interface Row {
  network: string;
  ops: string;
  pass: string;
  seconds: string;
  gflops: string;
  cpu: string;
  note: string;
}

export async function main(args: string[]): Promise<void> {
  const backend = (arg(args, '--backend') ?? process.env.NNUNET_BACKEND ?? 'wasm') as BackendName;
  const iters = Number(arg(args, '--iters') ?? 1);
  const stockDepth = Number(arg(args, '--stock-depth') ?? 4);
  const only = arg(args, '--only');
  const gw = arg(args, '--gradient-workers') ?? 'auto';
  const profile = args.includes('--profile');
  const stock = arg(args, '--stock') !== 'off';
  const torchOff = torchDisabled(args);
  /** ours next to PyTorch, same run: [network, pass, threads, ours s, ours GFLOP/s, PyTorch] */
  const vsTorch: { network: string; pass: string; threads: number; ours: number; oursGflops: number; torch: TorchOutcome }[] = [];
  const profiles: { label: string; table: string }[] = [];
  if (backend === 'webgpu') return webgpuNetworkBench(args); // both conv formulations, no stock/worker rows
  const info = await initBackend({ backend });
  const nWorkers = gradientWorkerCount(gw === 'auto' ? 'auto' : Number(gw));
  const rows: Row[] = [];
  /** network-level seconds for the target lines: [kind][what] */
  const net3: Record<string, number> = {};
  const fmt = (s: number) => s.toFixed(2);
  const gf = (flops: number, s: number) => (flops / s / 1e9).toFixed(1);

  for (const kind of ['3d', '2d'] as const) {
    if (only && only !== kind) continue;
    const cfg = hippocampus(kind);
    const desc = describeNetwork(cfg, { numInputChannels: 1, numClasses: 3 });
    const bs = cfg.batch_size;
    const label = `hippocampus ${kind === '3d' ? '3d_fullres' : '2d'} b${bs} ${cfg.patch_size.join('x')}`;
    const F = forwardFlops(desc.architecture, cfg.patch_size, bs);
    const net = GenericUNet.fromPlans(cfg, { numInputChannels: 1, numClasses: 3, seed: 1 });
    const x = tf.randomNormal([bs, ...cfg.patch_size, 1], 0, 1, 'float32', 2);
    // forward in chunks: the network is per-sample, and the wasm heap holds one chunk's activations comfortably
    const chunk = kind === '3d' ? 2 : 96;
    const fwd = async () => {
      for (let s = 0; s < bs; s += chunk) {
        const len = Math.min(chunk, bs - s);
        const outs = tf.tidy(() => net.forward(tf.slice(x, [s, ...new Array(x.rank - 1).fill(0)], [len, ...x.shape.slice(1)])));
        for (const o of outs) await o.data();
        tf.dispose(outs);
      }
    };
    await fwd(); // warm-up (XNNPACK operator creation)
    const tF = await timeIt(iters, fwd);
    rows.push({ network: label, ops: 'ours', pass: 'forward', seconds: fmt(tF), gflops: gf(F, tF), cpu: gf(F, lastCpu), note: `${chunk}-sample chunks` });
    // forward+backward = one training step's gradients exactly as the trainer computes them (trainStep): DC+CE over
    // the deep-supervision outputs with the plans' weights, batch Dice per the plans, in the trainer's wasm chunks
    // (accumulateGradients; batch Dice costs a no-tape forward of every chunk, counted in the time, not in FLOPs)
    const batchDice = kind === '2d'; // v1 default_configuration: 2d uses batch Dice, a one-stage 3d_fullres does not
    // deep-supervision targets: the label map subsampled to each output's resolution (the shapes of a 1-sample forward)
    const outShapes = tf.tidy(() => net.forward(tf.slice(x, [0, ...new Array(x.rank - 1).fill(0)], [1, ...x.shape.slice(1)])).map((o) => o.shape));
    const dsWeights = deepSupervisionWeights(outShapes.length);
    const chunkT = Math.min(bs, microBatchSize('auto', cfg));
    const labels = tf.tidy(() => tf.cast(tf.clipByValue(tf.add(tf.squeeze(x, [x.rank - 1]), 1), 0, 2), 'int32'));
    const targets = outShapes.map((o) => {
      const strides = [1, ...o.slice(1, -1).map((v, i) => labels.shape[i + 1] / v)];
      return tf.stridedSlice(labels, new Array(labels.rank).fill(0), labels.shape, strides);
    });
    // one training step's gradients, on this thread alone or split with the gradient workers
    const step = async (pool?: GradientWorkers) => {
      const { grads } = await stepGradients(net, x, targets, dsWeights, batchDice, chunkT, pool);
      for (const g of Object.values(grads)) await g.data();
      tf.dispose(Object.values(grads));
    };
    // warm-up: the backward pass creates its own XNNPACK operators and grows the wasm heap to the step's peak once; a
    // training run pays that on its first step only, so it is reported apart
    const tWarm = await timeIt(1, () => step());
    const tFB = await timeIt(iters, () => step());
    net3[`${kind} ours fwd+bwd`] = tFB;
    net3[`${kind} ours fwd+bwd cpu`] = (3 * F) / lastCpu / 1e9;
    rows.push({
      network: label,
      ops: 'ours',
      pass: 'forward+backward',
      seconds: fmt(tFB),
      gflops: gf(3 * F, tFB),
      cpu: gf(3 * F, lastCpu),
      note: `training step: DC+CE, batch Dice ${batchDice}, chunks of ${chunkT}${batchDice && chunkT < bs ? ` (+${Math.ceil(bs / chunkT) - 1} chunk forwards for batch Dice, not counted)` : ''}; first step ${fmt(tWarm)} s`,
    });
    if (profile) profiles.push({ label, table: await kernelTable(await tf.profile(() => step())) });
    if (nWorkers > 0) {
      // the same step split across this thread and nWorkers wasm instances in worker threads (trainFold's default)
      const pool = await GradientWorkers.start(nWorkers, net.architecture, info.backend);
      try {
        await step(pool); // warm-up: each worker creates its XNNPACK operators
        const tP = await timeIt(iters, () => step(pool));
        net3[`${kind} ours fwd+bwd workers`] = tP;
        rows.push({
          network: label,
          ops: `ours + ${nWorkers} gradient worker${nWorkers > 1 ? 's' : ''}`,
          pass: 'forward+backward',
          seconds: fmt(tP),
          gflops: gf(3 * F, tP),
          cpu: gf(3 * F, lastCpu),
          note: `training step on ${nWorkers + 1} threads (trainFold's data parallelism), chunks of ${chunkT}`,
        });
      } finally {
        await pool.close();
      }
    }
    tf.dispose([labels, ...targets]);
    tf.dispose([x]);
    net.dispose();

    // PyTorch right after ours: the same network, batch and patch; forward and gradients, with ours' thread counts
    const common = { cfg, numClasses: 3, batchDice, batch: bs, iterations: iters };
    const tr = runTorch(
      [
        { ...common, name: `${label} forward`, what: 'forward', threads: info.threads },
        { ...common, name: `${label} forward+backward`, what: 'gradients', threads: info.threads },
        ...(net3[`${kind} ours fwd+bwd workers`] !== undefined
          ? [{ ...common, name: `${label} forward+backward`, what: 'gradients' as const, threads: info.threads * (1 + nWorkers) }]
          : []),
      ],
      torchOff,
    );
    vsTorch.push({ network: label, pass: 'forward', threads: info.threads, ours: tF, oursGflops: F / tF / 1e9, torch: tr[0] });
    vsTorch.push({ network: label, pass: 'forward+backward', threads: info.threads, ours: tFB, oursGflops: (3 * F) / tFB / 1e9, torch: tr[1] });
    const tW = net3[`${kind} ours fwd+bwd workers`];
    if (tW !== undefined) {
      vsTorch.push({ network: label, pass: 'forward+backward', threads: info.threads * (1 + nWorkers), ours: tW, oursGflops: (3 * F) / tW / 1e9, torch: tr[2] });
    }
    if (!stock) continue;

    // stock tfjs on one full-resolution 32->32 3x3(x3) layer, ours on the same layer, then extrapolate
    const sp = kind === '3d' ? [stockDepth, ...cfg.patch_size.slice(1)] : cfg.patch_size;
    const lb = kind === '3d' ? 1 : Math.min(bs, 32);
    const lx = tf.randomNormal([lb, ...sp, 32]);
    const lw = tf.randomNormal(kind === '3d' ? [3, 3, 3, 32, 32] : [3, 3, 32, 32], 0, 0.05);
    const layerF = 2 * lb * sp.reduce((a, b) => a * b, 1) * 32 * 32 * (kind === '3d' ? 27 : 9);
    const layerDesc = `layer ${lb}x${sp.join('x')}x32->32`;
    const stockFwd = (a: tf.Tensor, w: tf.Tensor) =>
      kind === '3d'
        ? tf.conv3d(tf.pad(a, [[0, 0], [1, 1], [1, 1], [1, 1], [0, 0]]) as tf.Tensor5D, w as tf.Tensor5D, 1, 'valid')
        : tf.conv2d(a as tf.Tensor4D, w as tf.Tensor4D, 1, 'same');
    const ourFwd = (a: tf.Tensor, w: tf.Tensor) =>
      kind === '3d' ? conv3d(a as tf.Tensor5D, w as tf.Tensor5D) : conv2d(a as tf.Tensor4D, w as tf.Tensor4D);
    for (const [name, op] of [['ours', ourFwd], ['stock tfjs', stockFwd]] as const) {
      const once = async () => {
        const y = op(lx, lw);
        await y.data();
        y.dispose();
      };
      if (!(kind === '3d' && name === 'stock tfjs')) await once(); // warm-up (XNNPACK operators; stock Conv3D has none)
      const tl = await timeIt(LAYER_ITERS, once);
      const rate = layerF / tl;
      const cpuL = lastCpu;
      rows.push({ network: label, ops: name, pass: 'forward', seconds: fmt(tl), gflops: gf(layerF, tl), cpu: gf(layerF, cpuL), note: layerDesc });
      if (name === 'stock tfjs') {
        rows.push({ network: label, ops: name, pass: 'forward', seconds: fmt(F / rate), gflops: gf(layerF, tl), cpu: gf(layerF, cpuL), note: 'extrap. to network at layer GFLOP/s' });
      }
      let tlb: number | null = null;
      let err = '';
      try {
        tlb = await timeIt(LAYER_ITERS, async () => {
          const gs = tf.grads((a: tf.Tensor, w: tf.Tensor) => tf.sum(op(a, w)))([lx, lw]);
          for (const g of gs) await g.data();
          tf.dispose(gs);
        });
      } catch (e) {
        err = (e as Error).message.split('\n')[0].slice(0, 80);
      }
      if (name === 'stock tfjs' && kind === '2d') {
        // stock input gradient alone (Conv2DBackpropInput exists on wasm, the filter gradient does not)
        const tdx = await timeIt(LAYER_ITERS, async () => {
          const g = tf.grad((a: tf.Tensor) => tf.sum(op(a, lw)))(lx);
          await g.data();
          g.dispose();
        });
        rows.push({ network: label, ops: name, pass: 'forward+dx only', seconds: fmt(tdx), gflops: gf(2 * layerF, tdx), cpu: gf(2 * layerF, lastCpu), note: layerDesc });
      }
      if (tlb === null) {
        rows.push({ network: label, ops: name, pass: 'forward+backward', seconds: 'n/a', gflops: 'n/a', cpu: 'n/a', note: `fails: ${err}` });
      } else {
        const cpuB = lastCpu;
        rows.push({ network: label, ops: name, pass: 'forward+backward', seconds: fmt(tlb), gflops: gf(3 * layerF, tlb), cpu: gf(3 * layerF, cpuB), note: layerDesc });
        if (name === 'stock tfjs') {
          const r = (3 * layerF) / tlb;
          net3[`${kind} stock fwd+bwd`] = (3 * F) / r;
          const note = kind === '3d' && info.backend === 'wasm' ? 'extrap.; stock wasm dx/dw are WRONG (toolchain §3)' : 'extrap. to network';
          rows.push({ network: label, ops: name, pass: 'forward+backward', seconds: fmt((3 * F) / r), gflops: gf(3 * layerF, tlb), cpu: gf(3 * layerF, cpuB), note });
        }
      }
    }
    if (kind === '3d' && info.backend !== 'tensorflow') {
      // Stock tfjs-wasm's Conv3D backward is cheap because it is wrong (its dx fills only depth slice 0). A CORRECT
      // gradient from stock ops: dx = stock conv3d of the padded dy with the flipped, Ci/Co-swapped filter; dw = stock
      // Conv3DBackpropFilterV2 (correct at stride 1, checked here against ours).
      const dyL = tf.onesLike(lx); // d sum(y) / dy for this 32->32 'same' layer
      const wf = tf.transpose(tf.reverse(lw, [0, 1, 2]), [0, 1, 2, 4, 3]);
      let dwStock: tf.Tensor | null = null;
      const tCorrect = await timeIt(LAYER_ITERS, async () => {
        const dw = tf.grad((w: tf.Tensor) => tf.sum(stockFwd(lx, w)))(lw);
        const dx = stockFwd(dyL, wf);
        await dw.data();
        await dx.data();
        dx.dispose();
        dwStock?.dispose();
        dwStock = dw;
      });
      const cpuC = lastCpu;
      const dwOurs = tf.grad((w: tf.Tensor) => tf.sum(ourFwd(lx, w)))(lw);
      const rel = tf.tidy(() => tf.div(tf.max(tf.abs(tf.sub(dwStock!, dwOurs))), tf.max(tf.abs(dwOurs))).dataSync()[0]);
      const r = (3 * layerF) / tCorrect;
      net3[`${kind} stock correct fwd+bwd`] = (3 * F) / r;
      rows.push({ network: label, ops: 'stock tfjs, correct dx', pass: 'forward+backward', seconds: fmt(tCorrect), gflops: gf(3 * layerF, tCorrect), cpu: gf(3 * layerF, cpuC), note: `${layerDesc}; dx by stock conv3d, dw vs ours rel. err ${rel.toExponential(1)}` });
      rows.push({ network: label, ops: 'stock tfjs, correct dx', pass: 'forward+backward', seconds: fmt((3 * F) / r), gflops: gf(3 * layerF, tCorrect), cpu: gf(3 * layerF, cpuC), note: 'extrap. to network' });
      tf.dispose([dyL, wf, dwOurs, dwStock!]);
    }
    tf.dispose([lx, lw]);
  }

  const head: (keyof Row)[] = ['network', 'ops', 'pass', 'seconds', 'gflops', 'cpu', 'note'];
  const cells = [head.map((h) => (h === 'seconds' ? 's/iter' : h === 'gflops' ? 'GFLOP/s' : h === 'cpu' ? 'GFLOP/CPU-s' : h)), ...rows.map((r) => head.map((h) => r[h]))];
  const w = head.map((_, i) => Math.max(...cells.map((c) => c[i].length)));
  console.log(`\nbackend ${info.backend}${info.simd ? ' (simd, 1 thread)' : ''}, iters ${iters} (median)`);
  for (const c of cells) console.log(c.map((v, i) => (i >= 3 && i <= 5 ? v.padStart(w[i]) : v.padEnd(w[i]))).join('  '));
  console.log(`\nours against PyTorch, same run (median of ${iters}):`);
  printTable(
    ['network', 'pass', 'threads (both)', 'ours s/iter', 'PyTorch s/iter', 'ratio ours/PyTorch', 'ours GFLOP/s', 'PyTorch GFLOP/s'],
    vsTorch.map((v) => [v.network, v.pass, String(v.threads), fmt(v.ours), torchSeconds(v.torch), ratio(v.ours, v.torch), v.oursGflops.toFixed(1), torchGflops(v.torch)]),
  );
  console.log(`forward: all deep-supervision outputs, no gradient; forward+backward: DC+CE loss and its gradients, no clip/SGD update\n${torchNote(vsTorch.map((v) => v.torch))}`);
  for (const p of profiles) console.log(`\nkernel time of one training step (tf.profile), ${p.label}:\n${p.table}`);
  const ours = net3['3d ours fwd+bwd'];
  if (ours !== undefined) {
    // issue 5 targets: 3D forward+backward >= 50x stock tfjs-wasm Conv3D, >= 10 GFLOP/s on one core
    const x = (k: string) => (net3[k] === undefined ? 'n/a' : `${(net3[k] / ours).toFixed(1)}x`);
    console.log(`\n3d forward+backward speedup (target >= 50x): vs stock as shipped (wrong dx) ${x('3d stock fwd+bwd')}, ` +
      `vs stock with a correct dx ${x('3d stock correct fwd+bwd')}; ours ${net3['3d ours fwd+bwd cpu'].toFixed(1)} GFLOP/CPU-s (target >= 10)`);
    const tw = net3['3d ours fwd+bwd workers'];
    if (tw !== undefined) {
      const y = (k: string) => (net3[k] === undefined ? 'n/a' : `${(net3[k] / tw).toFixed(1)}x`);
      console.log(`with ${nWorkers} gradient worker(s) (${nWorkers + 1} threads; stock Conv3D runs on one): vs stock as shipped ${y('3d stock fwd+bwd')}, ` +
        `vs stock with a correct dx ${y('3d stock correct fwd+bwd')}`);
    }
  }
}
