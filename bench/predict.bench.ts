/**
 * Sliding-window prediction speed: the real Generic U-Net (hippocampus v1 plans, random He weights) through
 * predictSlidingWindow on a preprocessed hippocampus case, plus the pure aggregation overhead on a lung-sized case
 * with a trivial network.
 *
 *   npm run bench -- predict [--config 3d|2d|both] [--tta on|off|both] [--backend auto|wasm|cpu] [--overhead on|off]
 *                            [--tiles-per-batch N] [--full-path on|off] [--hippo-cases N] [--ct on|off]
 *                            [--ct-shape 250,512,512] [--ct-tiles N|all] [--ct-full-patch on|off] [--tile-workers N|auto]
 *                            [--profile] (--tiles-per-batch N also times N Lung tiles per call against one)
 *
 * Full predict path (predictCases: read NIfTI + crop + preprocess + sliding window + export + write NIfTI), random
 * weights, 3d_fullres, TTA on and off, peak RSS sampled every 50 ms:
 *  - hippocampus: v2.1 plans from the official fingerprint (fixtures hippocampus_v2_fingerprint.json), N raw cases;
 *  - a synthetic 512x512x250 CT (data-scripts/synthetic_lung.ts generateCase(1)) at Lung-like spacing
 *    (1.25, 0.785, 0.785) with the Lung 3d_fullres topology (patch 80x192x160, pools [2,2,2]x4 + [1,2,2], 32 base
 *    features, CT normalisation). One network call on that patch takes about 40 s on one core (2026-12-06, idle
 *    2-core machine), so by default (--ct-tiles 2) the network is run on 2 real full-size tiles for the per-tile
 *    time (--ct-full-patch off times a 32x96x96 tile and scales it) and the rest of the path (preprocess, Gaussian
 *    aggregation, export) runs fully with a zero-cost stand-in network; the table says 'extrapolated'.
 *    --ct-tiles all measures the whole case (180 tiles; about an hour on 2 cores with TTA off, x8 with TTA) with
 *    --tile-workers (default 'auto': cores - 1 extra wasm instances, tile_workers.ts), after the zero-cost pass that
 *    counts its tiles and times the aggregation alone; then PyTorch times the same full tile with as many threads as
 *    we had instances, and the last table compares our sliding window per tile with PyTorch's tile. PyTorch's whole
 *    case is not run (its tiles x its tile time is printed, marked 'not measured').
 *  --profile prints where one full Lung tile's forward spends its time, per kernel and shape, with GFLOP/s.

 * PyTorch in the same run (bench/torch_cpu.ts; --torch off skips it): right after each network timing of ours, the same
 * tile in PyTorch 1.13 on the CPU (nnU-Net v1's Generic_UNet, same plans and patch, fp32, no_grad, with our thread
 * count, median of --torch-iters, default 3, after one warm-up; ours also runs one untimed tile first): the hippocampus tiles with and without v1's
 * mirrorings (8 in 3d, 4 in 2d), and the Lung tile (one pass, the patch our side timed). The last table compares
 * network seconds per tile: ours is the sliding window's network time divided by its tiles (tfjs calls, reading the
 * logits back included), PyTorch's is the tile alone. The full predict path (reading, preprocessing, export) has no
 * PyTorch counterpart here.
 *
 * Historical footnote, not compared: the fixtures README recorded official v1's validation of 40 hippocampus cases
 * (2d, mirroring, export, evaluation) at 204-216 s on a 2-core CPU, in another run on another day.
 */
import * as path from 'path';
import * as fs from 'fs';
import * as tf from '@tensorflow/tfjs';
import { readNpy } from '../sdk/io/npy';
import { initBackend } from '../sdk/network/backend';
import { GenericUNet } from '../sdk/network/generic_unet';
import { predictSlidingWindow, PatchPredictor, computeSlidingWindowSteps } from '../sdk/inference/sliding_window';
import { tfjsPatchPredictor } from '../sdk/inference/tfjs_predictor';
import * as os from 'os';
import { predictCases } from '../sdk/inference/predict';
import { tileWorkerCount } from '../sdk/inference/tile_workers';
import { forwardFlops } from '../sdk/network/architecture';
import { LUNG_3D_FULLRES } from './network_webgpu';
import { planExperiment } from '../sdk/planning/plan_experiment';
import { Plans, PlansJSON } from '../sdk/planning/plans';
import { writeNifti } from '../sdk/io/nifti';
import { generateCase } from '../data-scripts/synthetic_lung';
import { arg, printTable } from './script';
import { ratio, runTorch, torchDisabled, torchNote, TorchOutcome, torchSeconds } from './torch_cpu';

const FIX = path.resolve(__dirname, '../../shared/fixtures/official');

/** A network timing of ours next to PyTorch's, same run: seconds per tile. */
interface VsTorch {
  what: string;
  threads: number;
  ours: number;
  torch: TorchOutcome;
}

interface Row {
  what: string;
  backend: string;
  tiles: number;
  calls: number;
  batch: string;
  total_s: string;
  network_s: string;
  overhead_s: string;
}

function timed(p: PatchPredictor, acc: { s: number; calls: number; n: number }): PatchPredictor {
  return async (b, s) => {
    const t = performance.now();
    const r = await p(b, s);
    acc.s += (performance.now() - t) / 1000;
    acc.calls++;
    acc.n = s[0];
    return r;
  };
}

export async function main(args: string[]): Promise<void> {
  const configs = arg(args, '--config') ?? 'both';
  const ttas = arg(args, '--tta') ?? 'both';
  const backendReq = (arg(args, '--backend') ?? 'auto') as 'auto' | 'wasm' | 'cpu';
  const overhead = (arg(args, '--overhead') ?? 'on') === 'on';
  const tilesPerBatch = Number(arg(args, '--tiles-per-batch') ?? '1');
  const info = await initBackend({ backend: backendReq, log: false });
  const rows: Row[] = [];
  const vs: VsTorch[] = [];
  // PyTorch here runs on the CPU: next to a GPU backend its figure would compare different devices (bench/gpu does that)
  const torchOff = torchDisabled(args) ?? (info.backend === 'webgpu' ? 'not run (ours on webgpu; PyTorch here is CPU-only, bench/gpu compares on a GPU)' : null);
  const torchIters = Number(arg(args, '--torch-iters') ?? '3');

  const img = readNpy(path.join(FIX, 'hippocampus_cases/hippocampus_001_data.npy'));
  const shape = img.shape; // (1, 35, 51, 35)
  const data = img.data as Float32Array;
  for (const cfg of configs === 'both' ? ['3d', '2d'] : [configs]) {
    const plans = JSON.parse(fs.readFileSync(path.join(FIX, `hippocampus_v1_plans_${cfg}.json`), 'utf8'));
    const st = plans.plans_per_stage['0'];
    const netCfg = {
      pool_op_kernel_sizes: st.pool_op_kernel_sizes,
      conv_kernel_sizes: st.conv_kernel_sizes,
      UNet_base_num_features: plans.base_num_features,
      patch_size: st.patch_size,
      batch_size: st.batch_size,
    };
    const net = GenericUNet.fromPlans(netCfg, { numInputChannels: 1, numClasses: 3, seed: 12345 });
    try {
      // one untimed tile first (XNNPACK operator creation, wasm heap growth), as the PyTorch side's warm-up call
      tf.tidy(() => net.predict(tf.zeros([1, ...st.patch_size, 1]))).dataSync();
      const netFn = (x: tf.Tensor) => net.predict(x);
      for (const tta of ttas === 'both' ? ['off', 'on'] : [ttas]) {
        const acc = { s: 0, calls: 0, n: 0 };
        const mirrorAxes = tta === 'on' ? (cfg === '3d' ? [0, 1, 2] : [0, 1]) : [];
        const t0 = performance.now();
        const r = await predictSlidingWindow(data, shape, {
          patchSize: st.patch_size,
          numClasses: 3,
          mirrorAxes,
          tilesPerBatch,
          predictPatch: timed(tfjsPatchPredictor(netFn), acc),
        });
        const total = (performance.now() - t0) / 1000;
        if (r.data.some((v) => !Number.isFinite(v))) throw new Error('non-finite probabilities');
        const padded = shape.slice(1).map((s, d) => Math.max(s, cfg === '3d' ? st.patch_size[d] : d === 0 ? s : st.patch_size[d - 1]));
        const tiles =
          cfg === '3d'
            ? computeSlidingWindowSteps(st.patch_size, padded).reduce((a, s) => a * s.length, 1)
            : shape[1] * computeSlidingWindowSteps(st.patch_size, padded.slice(1)).reduce((a, s) => a * s.length, 1);
        rows.push({
          what: `hippocampus_001 ${cfg} U-Net, TTA ${tta}, ${tilesPerBatch} tile(s)/call`,
          backend: info.backend,
          tiles,
          calls: acc.calls,
          batch: `${acc.n}x[1,${st.patch_size}]`,
          total_s: total.toFixed(2),
          network_s: acc.s.toFixed(2),
          overhead_s: (total - acc.s).toFixed(2),
        });
        console.log(JSON.stringify(rows[rows.length - 1]));
        // PyTorch right after ours: one tile of the same network and patch, with the same mirrorings
        const [t] = runTorch(
          [{ name: `hippocampus ${cfg} tile, TTA ${tta}`, what: 'tile', cfg: netCfg, numClasses: 3, batchDice: false, batch: 1, threads: info.threads, iterations: torchIters, mirror: tta === 'on' }],
          torchOff,
        );
        vs.push({ what: `hippocampus ${cfg} tile 1x${st.patch_size.join('x')}, TTA ${tta}${tta === 'on' ? ` (${mirrorAxes.length === 3 ? 8 : 4} mirrorings)` : ''}`, threads: info.threads, ours: acc.s / tiles, torch: t });
      }
    } finally {
      net.dispose();
    }
  }

  if (overhead) {
    // lung_008 after v1 preprocessing (167, 156, 161) with the synthlung plan patch 96x160x160, 8 mirrors per tile
    const ls = [1, 167, 156, 161];
    const limg = new Float32Array(ls.reduce((a, b) => a * b, 1));
    const acc = { s: 0, calls: 0, n: 0 };
    // logits that differ per voxel, so the softmax does its exp work as with a real network
    const logits = new Float32Array(8 * 2 * 96 * 160 * 160).map((_, i) => ((i * 2654435761) % 1000) / 100 - 5);
    const zeros: PatchPredictor = async (_b, s) => logits.slice(0, s[0] * 2 * s.slice(2).reduce((a, b) => a * b, 1));
    const t0 = performance.now();
    await predictSlidingWindow(limg, ls, { patchSize: [96, 160, 160], numClasses: 2, predictPatch: timed(zeros, acc) });
    const total = (performance.now() - t0) / 1000;
    rows.push({
      what: 'lung_008-sized 3d, trivial network, TTA on',
      backend: 'js',
      tiles: acc.calls,
      calls: acc.calls,
      batch: `${acc.n}x[1,96,160,160]`,
      total_s: total.toFixed(2),
      network_s: acc.s.toFixed(2),
      overhead_s: (total - acc.s).toFixed(2),
    });
  }
  console.table(rows);
  if ((arg(args, '--full-path') ?? 'on') === 'on') await fullPath(args, vs, torchOff, torchIters);
  console.log('\nnetwork seconds per tile, ours against PyTorch in this run:');
  printTable(
    ['tile', 'threads (both)', 'ours network s/tile', 'PyTorch s/tile', 'ratio ours/PyTorch'],
    vs.map((v) => [v.what, String(v.threads), v.ours.toFixed(3), torchSeconds(v.torch, 3), ratio(v.ours, v.torch)]),
  );
  console.log(torchNote(vs.map((v) => v.torch)));
}

/** Peak RSS (GB), sampled every 50 ms while `fn` runs. */
async function withPeakRss<T>(fn: () => Promise<T>): Promise<{ value: T; peakGB: number }> {
  let peak = process.memoryUsage().rss;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 50);
  try {
    const value = await fn();
    peak = Math.max(peak, process.memoryUsage().rss);
    return { value, peakGB: peak / 2 ** 30 };
  } finally {
    clearInterval(timer);
  }
}

interface FullRow {
  what: string;
  tta: string;
  cases: number;
  s_per_case: string;
  preprocess_s: string;
  sliding_window_s: string;
  export_s: string;
  peak_rss_GB: string;
  note: string;
}

/** Lung 3d_fullres topology (LUNG_3D_FULLRES: v1 Task06 plans, patch 80x192x160, 5 poolings, the last one in-plane only). */
function lungPlans(base: PlansJSON): Plans {
  const j: PlansJSON = structuredClone(base);
  const c = structuredClone(j.configurations['3d_fullres']);
  Object.assign(c, {
    data_identifier: 'bench_lung_3d_fullres',
    spacing: [1.25, 0.78515625, 0.78515625],
    patch_size: LUNG_3D_FULLRES.patch_size,
    batch_size: LUNG_3D_FULLRES.batch_size,
    num_pool_per_axis: [0, 1, 2].map((a) => LUNG_3D_FULLRES.pool_op_kernel_sizes.filter((p) => p[a] > 1).length),
    pool_op_kernel_sizes: LUNG_3D_FULLRES.pool_op_kernel_sizes,
    conv_kernel_sizes: LUNG_3D_FULLRES.conv_kernel_sizes,
    n_conv_per_stage_encoder: LUNG_3D_FULLRES.conv_kernel_sizes.map(() => 2),
    n_conv_per_stage_decoder: LUNG_3D_FULLRES.pool_op_kernel_sizes.map(() => 2),
    UNet_base_num_features: LUNG_3D_FULLRES.UNet_base_num_features,
    normalization_schemes: ['CTNormalization'],
    use_mask_for_norm: [false],
  });
  j.configurations = { '3d_fullres': c };
  j.transpose_forward = [0, 1, 2];
  j.transpose_backward = [0, 1, 2];
  // Task06-like CT foreground intensities (synthetic lung generator's range)
  j.foreground_intensity_properties_per_channel = { '0': { max: 400, mean: -150, median: -120, min: -1024, percentile_00_5: -900, percentile_99_5: 300, std: 250 } };
  return new Plans(j);
}

async function fullPath(args: string[], vs: VsTorch[], torchOff: string | null, torchIters: number): Promise<void> {
  const info = await initBackend({ log: false });
  const rows: FullRow[] = [];
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'nnunet-ts-bench-predict-'));
  const ttas = arg(args, '--tta') ?? 'both';
  const modes = ttas === 'both' ? ['off', 'on'] : [ttas];
  try {
    // ---- hippocampus: v2.1 plans from the official fingerprint, raw MSD cases
    const fp = JSON.parse(fs.readFileSync(path.join(FIX, 'hippocampus_v2_fingerprint.json'), 'utf8'));
    // the v2 fingerprint lacks the v1 fields the planner reads: channels and labels from the MSD dataset.json
    // (MRI; labels 1, 2), no cropping (median_relative_size_after_cropping 1.0)
    const n = fp.spacings.length;
    const plans = planExperiment(
      { ...fp, modalities: { '0': 'MRI' }, all_classes: [1, 2], size_reductions: Array(n).fill(1), case_identifiers: Array.from({ length: n }, (_, i) => `case_${i}`) },
      { datasetName: 'Task04_Hippocampus' },
    );
    const cfg = plans.configuration('3d_fullres');
    const nHippo = Number(arg(args, '--hippo-cases') ?? '3');
    const twArg = arg(args, '--tile-workers') ?? 'auto';
    const tileWorkers = twArg === 'auto' ? 'auto' : Number(twArg);
    const data = path.resolve(__dirname, '../../shared/data/Task04_Hippocampus/imagesTr');
    const ids = fs.readdirSync(data).filter((f) => f.endsWith('.nii.gz') && !f.startsWith('.')).sort().slice(0, nHippo).map((f) => f.replace('.nii.gz', ''));
    const net = GenericUNet.fromPlans(cfg as never, { numInputChannels: 1, numClasses: 3, seed: 1 });
    try {
      for (const tta of nHippo > 0 ? modes : []) {
        const { value: r, peakGB } = await withPeakRss(() =>
          predictCases({ plans, configuration: '3d_fullres', networks: [net], input: data, caseIds: ids, outputDir: path.join(tmp, `hippo_${tta}`), mirroring: tta === 'on', progress: false, tileWorkers }),
        );
        const mean = (f: (c: (typeof r.cases)[0]) => number) => r.cases.reduce((a, c) => a + f(c), 0) / r.cases.length;
        rows.push({
          what: `hippocampus 3d_fullres (patch ${cfg.patch_size.join('x')}, ${info.backend}, tileWorkers ${twArg})`,
          tta,
          cases: r.cases.length,
          s_per_case: mean((c) => c.seconds).toFixed(2),
          preprocess_s: mean((c) => c.timings?.preprocess_s ?? NaN).toFixed(2),
          sliding_window_s: mean((c) => c.timings?.predict_s ?? NaN).toFixed(2),
          export_s: mean((c) => c.timings?.export_s ?? NaN).toFixed(2),
          peak_rss_GB: peakGB.toFixed(2),
          note: 'measured',
        });
        console.log(JSON.stringify(rows[rows.length - 1]));
      }
    } finally {
      net.dispose();
    }

    // ---- synthetic 512x512x250 CT with the Lung topology
    if ((arg(args, '--ct') ?? 'on') === 'on') {
      const shape = (arg(args, '--ct-shape') ?? '250,512,512').split(',').map(Number) as [number, number, number];
      const spacing: [number, number, number] = [1.25, 0.78515625, 0.78515625];
      const inDir = path.join(tmp, 'ct_in');
      fs.mkdirSync(inDir, { recursive: true });
      const t0 = performance.now();
      const c = generateCase(1, { shape, spacing });
      await writeNifti(path.join(inDir, 'lung_001_0000.nii.gz'), c.image);
      console.log(`synthetic CT ${shape.join('x')} generated and written in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
      const lp = lungPlans(plans.toJSON());
      const lcfg = lp.configuration('3d_fullres');
      const lnet = GenericUNet.fromPlans(lcfg as never, { numInputChannels: 1, numClasses: 2, seed: 1 });
      const tilesArg = arg(args, '--ct-tiles') ?? '2';
      try {
        // per-tile network time (batch of 1 without TTA, 8 mirrors with TTA as v1 runs them one by one)
        const nTiles = tilesArg === 'all' ? 0 : Number(tilesArg);
        // seconds per tile of `nTiles` calls of `batch` tiles each
        const timeCalls = (patch: number[], batch = 1): number => {
          const x = tf.randomNormal([batch, ...patch, 1]); // channels last
          try {
            tf.tidy(() => lnet.predict(x)).dataSync(); // warm-up (kernel setup, heap growth) not counted
            const t = performance.now();
            for (let i = 0; i < nTiles; i++) tf.tidy(() => lnet.predict(x)).dataSync();
            return (performance.now() - t) / 1000 / nTiles / batch;
          } finally {
            x.dispose();
          }
        };
        let perCall = NaN;
        let perCallNote = '';
        let timedPatch: number[] = [];
        let timedPerCall = NaN;
        if (nTiles) {
          if ((arg(args, '--ct-full-patch') ?? 'on') === 'on') {
            // the full 80x192x160 tile fits the wasm heap since GenericUNet.predict frees activations as it goes and
            // conv3d stacks large inputs in depth chunks; the wasm heap never shrinks, so RSS after the calls is
            // the high-water mark of one tile's forward pass
            perCall = timeCalls(lcfg.patch_size);
            timedPatch = lcfg.patch_size;
            timedPerCall = perCall;
            perCallNote = `full patch measured on ${nTiles} call(s), RSS after them ${(process.memoryUsage().rss / 1e9).toFixed(2)} GB`;
          } else {
            // --ct-full-patch off (low-memory machines): time a 32x96x96 patch (divisible by the pooling, same
            // network) and scale by the voxel count (convolution cost is linear in voxels)
            const small = [32, 96, 96];
            const voxelRatio = lcfg.patch_size.reduce((a, b) => a * b, 1) / small.reduce((a, b) => a * b, 1);
            timedPatch = small;
            timedPerCall = timeCalls(small);
            perCall = timedPerCall * voxelRatio;
            perCallNote = `${small.join('x')} patch timed on ${nTiles} call(s) x ${voxelRatio.toFixed(2)} (voxel ratio)`;
          }
        }
        const tpb = Number(arg(args, '--tiles-per-batch') ?? '1');
        if (nTiles && tpb > 1) {
          // tile batching: several tiles in one network call (the sliding window's tilesPerBatch) against one per call
          const batched = timeCalls(timedPatch, tpb);
          console.log(
            `tile batching, Lung 3d_fullres ${timedPatch.join('x')}: ${tpb} tiles per call ${batched.toFixed(2)} s per tile, ` +
              `1 per call ${timedPerCall.toFixed(2)} s (ratio ${(batched / timedPerCall).toFixed(2)}); RSS now ${(process.memoryUsage().rss / 1e9).toFixed(2)} GB`,
          );
        }
        if (nTiles) {
          // PyTorch right after ours: one pass of the same network on the patch our side timed
          const [t] = runTorch(
            [{ name: `Lung 3d_fullres tile 1x${timedPatch.join('x')}`, what: 'tile', cfg: lcfg, patch: timedPatch, numClasses: 2, batchDice: true, batch: 1, threads: info.threads, iterations: Math.min(nTiles, torchIters) }],
            torchOff,
          );
          vs.push({ what: `Lung 3d_fullres tile 1x${timedPatch.join('x')}, one pass`, threads: info.threads, ours: timedPerCall, torch: t });
        }
        if (args.includes('--profile')) {
          // where one full Lung tile's forward spends its time, per kernel and shape (tf.profile, after a warm-up)
          const x = tf.randomNormal([1, ...lcfg.patch_size, 1]);
          try {
            tf.tidy(() => lnet.predict(x)).dataSync();
            const prof = await tf.profile(() => {
              const y = lnet.predict(x);
              y.dataSync();
              return y;
            });
            console.log(`\nkernel time of one Lung 3d_fullres tile 1x${lcfg.patch_size.join('x')} (tf.profile, ${info.backend}):\n${kernelShapeTable(prof)}`);
          } finally {
            x.dispose();
          }
        }
        const real = tilesArg === 'all';
        for (const tta of modes) {
          // the rest of the path with a zero-cost network: tile count and the aggregation/export time
          const acc = { calls: 0, passes: 0 };
          const zero = await withPeakRss(() =>
            predictCases({ plans: lp, configuration: '3d_fullres', networks: [zeroNetwork(lnet, acc)], input: inDir, outputDir: path.join(tmp, `ct0_${tta}`), mirroring: tta === 'on', progress: false, tileWorkers: 0 }),
          );
          const zc = zero.value.cases[0];
          if (!zc.ok) throw new Error(zc.error);
          const zt = zc.timings as NonNullable<typeof zc.timings>;
          const mirrors = tta === 'on' ? 8 : 1;
          const workers = real ? tileWorkerCount(tileWorkers, (forwardFlops(lnet.architecture, lcfg.patch_size, 1) * mirrors) / 1e9) : 0;
          const instances = info.threads * (1 + workers);
          const what = `synthetic CT ${shape.join('x')} Lung 3d_fullres (patch 80x192x160, ${info.backend}, ${instances} instance(s))`;
          if (!real) {
            const sw = zt.predict_s + acc.passes * perCall;
            rows.push({
              what,
              tta,
              cases: 1,
              s_per_case: (zt.preprocess_s + sw + zt.export_s).toFixed(1),
              preprocess_s: zt.preprocess_s.toFixed(1),
              sliding_window_s: sw.toFixed(1),
              export_s: zt.export_s.toFixed(1),
              peak_rss_GB: zero.peakGB.toFixed(2),
              note: `extrapolated: ${acc.calls} tiles, ${acc.passes} network passes x ${perCall.toFixed(2)} s/pass (${perCallNote}) + measured aggregation ${zt.predict_s.toFixed(1)} s; peak RSS includes the wasm heap the measured tiles grew (it never shrinks)`,
            });
            console.log(JSON.stringify(rows[rows.length - 1]));
            continue;
          }
          console.log(`whole case, TTA ${tta}: ${acc.calls} tiles x ${mirrors} pass(es), ${1 + workers} wasm instance(s) (tileWorkers ${workers}); hours on a CPU...`);
          const t0 = performance.now();
          const { value: r, peakGB } = await withPeakRss(() =>
            predictCases({ plans: lp, configuration: '3d_fullres', networks: [lnet], input: inDir, outputDir: path.join(tmp, `ct_${tta}`), mirroring: tta === 'on', progress: true, tileWorkers: workers }),
          );
          const wall = (performance.now() - t0) / 1000;
          const cs = r.cases[0];
          if (!cs.ok) throw new Error(cs.error);
          const t = cs.timings as NonNullable<typeof cs.timings>;
          rows.push({
            what,
            tta,
            cases: 1,
            s_per_case: wall.toFixed(1),
            preprocess_s: t.preprocess_s.toFixed(1),
            sliding_window_s: t.predict_s.toFixed(1),
            export_s: t.export_s.toFixed(1),
            peak_rss_GB: peakGB.toFixed(2),
            note: `measured: the whole case, ${acc.calls} tiles (read, preprocess, sliding window, export, write; aggregation alone ${zt.predict_s.toFixed(1)} s)`,
          });
          console.log(JSON.stringify(rows[rows.length - 1]));
          // PyTorch right after: the same network on the same full tile with as many threads as we had instances
          const [pt] = runTorch(
            [{ name: `Lung 3d_fullres tile 1x${lcfg.patch_size.join('x')}`, what: 'tile', cfg: lcfg, numClasses: 2, batchDice: true, batch: 1, threads: instances, iterations: torchIters, mirror: tta === 'on' }],
            torchOff,
          );
          vs.push({ what: `Lung 3d_fullres, whole CT case: sliding window s per tile (${acc.calls} tiles, TTA ${tta}) / PyTorch's tile`, threads: instances, ours: t.predict_s / acc.calls, torch: pt });
          if (pt.ok) {
            const est = pt.result.median_s * acc.calls;
            console.log(`PyTorch whole case (not measured): ${acc.calls} tiles x ${pt.result.median_s.toFixed(2)} s = ${est.toFixed(0)} s network alone; ours measured ${t.predict_s.toFixed(0)} s sliding window, ${wall.toFixed(0)} s in all`);
          }
        }
      } finally {
        lnet.dispose();
      }
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  console.table(rows);
}

/**
 * Kernel time per leaf kernel and input shapes of a profiled forward, largest first, with GFLOP/s for the
 * convolutions (multiply-adds x 2 over the output voxels).
 */
function kernelShapeTable(prof: Awaited<ReturnType<typeof tf.profile>>): string {
  const agg = new Map<string, { ms: number; n: number; flops: number }>();
  let total = 0;
  for (const k of prof.kernels) {
    if (k.name === 'unnamed scope' || typeof k.kernelTimeMs !== 'number') continue;
    const shapes = k.inputShapes as number[][];
    const outVox = ((k.outputShapes as number[][])[0] ?? []).slice(0, -1).reduce((a, b) => a * b, 1); // channels last
    let flops = 0;
    if (k.name === 'NnunetConvForward' || k.name === 'Conv3D') {
      const w = shapes[1]; // [kd, kh, kw, Ci, Co]
      flops = 2 * outVox * w[0] * w[1] * w[2] * w[3] * w[4];
    } else if (k.name === 'Conv2D') {
      const w = shapes[1]; // [kh, kw, Ci, Co]
      flops = 2 * outVox * w[0] * w[1] * w[2] * w[3];
    }
    const key = `${k.name} ${JSON.stringify(shapes)}`;
    const a = agg.get(key) ?? { ms: 0, n: 0, flops: 0 };
    a.ms += k.kernelTimeMs;
    a.n++;
    a.flops += flops;
    agg.set(key, a);
    total += k.kernelTimeMs;
  }
  const rows = [...agg.entries()].sort((a, b) => b[1].ms - a[1].ms);
  const lines = rows.slice(0, 25).map(([key, a]) => `${(a.ms / 1000).toFixed(2).padStart(7)} s ${String(a.n).padStart(3)}x ${a.flops ? `${(a.flops / a.ms / 1e6).toFixed(1).padStart(5)} GFLOP/s` : ' '.repeat(13)}  ${key}`);
  const conv = rows.filter(([, a]) => a.flops > 0).reduce((s, [, a]) => s + a.ms, 0);
  lines.push(`total ${(total / 1000).toFixed(2)} s in ${prof.kernels.length} kernel calls; convolutions ${(conv / 1000).toFixed(2)} s (${((100 * conv) / total).toFixed(0)} %)`);
  return lines.join('\n');
}

/**
 * A stand-in with the network's architecture (so predictCases' channel checks pass) whose predict returns zero
 * logits without running the convolutions: times everything but the network.
 */
function zeroNetwork(net: GenericUNet, acc: { calls: number; passes: number }): GenericUNet {
  const k = net.architecture.numClasses;
  return Object.assign(Object.create(Object.getPrototypeOf(net)), net, {
    predict(xx: tf.Tensor): tf.Tensor {
      acc.calls++;
      acc.passes += xx.shape[0]; // TTA batches the 8 mirrors of a tile into one call
      // channels-last (N, ...spatial, C_in) -> (N, ...spatial, K)
      return tf.zeros([...xx.shape.slice(0, -1), k]);
    },
  }) as GenericUNet;
}
