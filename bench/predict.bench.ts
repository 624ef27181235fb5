/**
 * Sliding-window prediction speed: the real Generic U-Net (hippocampus v1 plans, random He weights) through
 * predictSlidingWindow on a preprocessed hippocampus case, plus the pure aggregation overhead on a lung-sized case
 * with a trivial network.
 *
 *   npm run bench -- predict [--config 3d|2d|both] [--tta on|off|both] [--backend auto|wasm|cpu] [--overhead on|off]
 *                            [--tiles-per-batch N]
 *
 * Reference point (fixtures README, official v1 on a 2-core CPU): validation of 40 hippocampus cases took 204-216 s
 * for the 2d configuration (prediction with mirroring + export + evaluation), i.e. about 5 s per case.
 */
import * as path from 'path';
import * as fs from 'fs';
import * as tf from '@tensorflow/tfjs';
import { readNpy } from '../sdk/io/npy';
import { initBackend } from '../sdk/network/backend';
import { GenericUNet } from '../sdk/network/generic_unet';
import { predictSlidingWindow, PatchPredictor, computeSlidingWindowSteps } from '../sdk/inference/sliding_window';
import { tfjsPatchPredictor } from '../sdk/inference/tfjs_predictor';

const FIX = path.resolve(__dirname, '../../shared/fixtures/official');

function arg(args: string[], name: string, dflt: string): string {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : dflt;
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
  const configs = arg(args, 'config', 'both');
  const ttas = arg(args, 'tta', 'both');
  const backendReq = arg(args, 'backend', 'auto') as 'auto' | 'wasm' | 'cpu';
  const overhead = arg(args, 'overhead', 'on') === 'on';
  const tilesPerBatch = Number(arg(args, 'tiles-per-batch', '1'));
  const info = await initBackend({ backend: backendReq, log: false });
  const rows: Row[] = [];

  const img = readNpy(path.join(FIX, 'hippocampus_cases/hippocampus_001_data.npy'));
  const shape = img.shape; // (1, 35, 51, 35)
  const data = img.data as Float32Array;
  for (const cfg of configs === 'both' ? ['3d', '2d'] : [configs]) {
    const plans = JSON.parse(fs.readFileSync(path.join(FIX, `hippocampus_v1_plans_${cfg}.json`), 'utf8'));
    const st = plans.plans_per_stage['0'];
    const net = GenericUNet.fromPlans(
      {
        pool_op_kernel_sizes: st.pool_op_kernel_sizes,
        conv_kernel_sizes: st.conv_kernel_sizes,
        UNet_base_num_features: plans.base_num_features,
        patch_size: st.patch_size,
        batch_size: st.batch_size,
      },
      { numInputChannels: 1, numClasses: 3, seed: 12345 },
    );
    try {
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
}
