/**
 * `npm run bench -- train [--backend webgpu|wasm|...] [--configs 2d,3d_fullres] [--iterations N] [--threads T] [--batch B]
 *   [--gradient-workers 0,1] [--torch-threads N] [--torch off]`
 *
 * Seconds per training iteration of trainFold (nnUNetTrainerV2 loop: augmentation in worker threads, forward,
 * DC+CE with deep supervision, backward, clip, SGD step) with the official hippocampus v1 plans (2d: patch 56x40,
 * batch 281; 3d_fullres: patch 40x56x40, batch 7), and right after each configuration the same network step in
 * PyTorch, in the same run (bench/torch_cpu.ts: bench/python/torch_cpu_bench.py 'train_step', nnU-Net v1's
 * Generic_UNet, same patch and batch, fp32, random data, median over N - 1 steps after one warm-up step).
 *
 * What is compared: our "step s" (forward + backward + clip + SGD update on the main thread, as
 * nnUNetTrainerV2.run_iteration) against PyTorch's step, with the same number of compute threads (ours: the wasm
 * thread plus the gradient workers; `--torch-threads` overrides PyTorch's). PyTorch has no data loading there: our
 * full "s/it" (which includes waiting for augmentation) has no PyTorch counterpart in this bench.
 *
 * Only a few iterations are run (default 4; the machine is shared): the first iteration also pays for starting the
 * augmentation workers, so the median is over iterations 2..N. "waiting" is the time the loop waited for an
 * augmented batch; "aug s/batch" is how long one worker took to augment one batch (it overlaps the step; with 2
 * workers it is hidden while < 2 x step).
 * Each configuration runs once per `--gradient-workers` count (default 0 and 1): 1 splits every batch between this
 * thread and one more wasm instance in a worker thread (data parallelism, sdk/training/data_parallel.ts).
 *
 * Historical footnote, not compared: the fixtures README "CPU training baseline" recorded official nnU-Net v1 on the
 * same kind of 2-core machine (torch 1.13, 2 threads, 2 augmentation processes) at 17.9 s/it for 2d and 14.3 s/it for
 * 3d_fullres, in another run on another day; the PyTorch column above is the comparison.
 */
import * as os from 'os';
import * as fs from 'fs';
import * as path from 'path';
import { BackendName, initBackend } from '../sdk/network/backend';
import { describeNetwork, forwardFlops } from '../sdk/network/architecture';
import { formatAdapter } from '../sdk/network/webgpu/adapter';
import { trainFold, IterationInfo } from '../sdk/training/trainer';
import { officialFold, preprocessHippocampus } from './hippocampus_baseline';
import { arg, printTable } from './script';
import { ratio, runTorch, torchDisabled, torchGflops, torchNote, TorchOutcome, torchSeconds } from './torch_cpu';

function median(xs: number[]): number {
  if (!xs.length) return NaN;
  const s = xs.slice().sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export async function main(args: string[]): Promise<void> {
  const configs = (arg(args, '--configs') ?? '2d,3d_fullres').split(',');
  const iterations = Number(arg(args, '--iterations') ?? 4);
  const threads = Number(arg(args, '--threads') ?? 2);
  const batchOverride = arg(args, '--batch') !== undefined ? Number(arg(args, '--batch')) : undefined;
  const cacheRoot = path.resolve(__dirname, '../.cache/hippocampus');
  const backend = await initBackend({ backend: arg(args, '--backend') as BackendName | undefined });
  // gradient workers are extra wasm instances (CPU data parallelism); on a GPU backend there is one device
  const workerCounts = (arg(args, '--gradient-workers') ?? (backend.nativeConv3d ? '0' : '0,1')).split(',').map(Number);
  const torchThreads = arg(args, '--torch-threads');
  // PyTorch here runs on the CPU: next to a GPU backend its figure would compare different devices (bench/gpu does that)
  const torchOff = torchDisabled(args) ?? (backend.backend === 'webgpu' ? 'not run (ours on webgpu; PyTorch here is CPU-only, bench/gpu compares on a GPU)' : null);
  const rows: string[][] = [];
  const outcomes: TorchOutcome[] = [];
  for (const configuration of configs) for (const gradientWorkers of workerCounts) {
    const { dataset, plans, dir } = await preprocessHippocampus(cacheRoot, configuration, threads);
    const cfg = plans.configuration(configuration);
    const fold = officialFold(dataset, 0);
    const its: IterationInfo[] = [];
    const out = fs.mkdtempSync(path.join(os.tmpdir(), `nnunet-ts-train-bench-${configuration}-`));
    const t0 = Date.now();
    let last = t0;
    const wall: number[] = [];
    let augS = NaN;
    try {
      const res = await trainFold({
        plans,
        configuration,
        preprocessedDir: dir,
        trainCases: fold.train,
        valCases: fold.val,
        outputDir: out,
        fold: 0,
        dataset,
        epochs: 1000, // the real schedule; stopped after one epoch of `iterations`
        iterationsPerEpoch: iterations,
        validationIterations: 0,
        batchSize: batchOverride,
        numThreads: threads,
        gradientWorkers,
        stopAfterEpochs: 1,
        validate: false,
        saveBest: false,
        progress: true,
        onIteration: (i) => {
          if (i.split !== 'train') return;
          const now = Date.now();
          wall.push((now - last) / 1000);
          last = now;
          its.push(i);
        },
      });
      augS = res.log[0]?.augmentation_s_per_batch ?? NaN;
    } finally {
      fs.rmSync(out, { recursive: true, force: true });
    }
    const steady = its.slice(1);
    const steadyWall = wall.slice(1);
    const bs = batchOverride ?? cfg.batch_size;
    const flops = 3 * forwardFlops(describeNetwork(cfg, { numInputChannels: 1, numClasses: 3 }).architecture, cfg.patch_size, bs);
    const perIt = median(steadyWall);
    const wait = median(steady.map((i) => i.waitS));
    const step = median(steady.map((i) => i.stepS));
    console.log(`${configuration}, ${gradientWorkers} gradient workers: per-iteration wall ${wall.map((w) => w.toFixed(1)).join(', ')} s; wait ${its.map((i) => i.waitS.toFixed(1)).join(', ')} s`);
    // PyTorch right after ours: the same network step, patch, batch and compute threads
    const threadsOurs = backend.threads * (1 + gradientWorkers);
    const [t] = runTorch(
      [{
        name: `hippocampus ${configuration} b${bs}`,
        what: 'train_step',
        cfg: { ...cfg, batch_size: bs },
        numClasses: 3,
        batchDice: cfg.batch_dice,
        batch: bs,
        threads: torchThreads !== undefined ? Number(torchThreads) : threadsOurs,
        iterations: Math.max(1, iterations - 1),
      }],
      torchOff,
    );
    outcomes.push(t);
    rows.push([
      configuration,
      String(gradientWorkers),
      cfg.patch_size.join('x'),
      String(bs),
      perIt.toFixed(1),
      `${wait.toFixed(1)} (${((100 * wait) / perIt).toFixed(0)}%)`,
      augS.toFixed(1),
      wall[0].toFixed(1),
      String(threadsOurs),
      step.toFixed(1),
      t.ok ? String(t.result.threads) : '-',
      torchSeconds(t, 1),
      ratio(step, t),
      (flops / step / 1e9).toFixed(1),
      torchGflops(t),
    ]);
  }
  const head = [
    'configuration', 'gradient workers', 'patch', 'batch', 'ours s/it (full iteration)', 'ours waiting for aug s', 'aug s/batch (worker)', 'ours first it s',
    'ours threads', 'ours step s', 'PyTorch threads', 'PyTorch step s', 'ratio step ours/PyTorch', 'ours step GFLOP/s', 'PyTorch step GFLOP/s',
  ];
  console.log(`\nbackend ${backend.backend}${backend.simd ? ' simd' : ''}${backend.adapter ? ` on ${formatAdapter(backend.adapter)}` : ''}, ${threads} augmentation workers, ${iterations} iterations per configuration (median over iterations 2..${iterations}), ${os.cpus().length} cores shared with other users`);
  printTable(head, rows);
  console.log(`step = forward + DC+CE + backward + clip + SGD update (no data loading); ${torchNote(outcomes)}`);
}
