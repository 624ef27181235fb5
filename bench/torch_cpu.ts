/**
 * PyTorch in the same run: `bench train`, `bench network` and `bench predict` call this right after timing ours, with
 * the same network (official plans), shapes and number of threads, and print ours, PyTorch's and the ratio
 * ours / PyTorch in one table. The PyTorch side is bench/python/torch_cpu_bench.py (nnU-Net v1's Generic_UNet of
 * bench/python/torch_step_parity.py) run by NNUNET_REFERENCE_PYTHON, default /usr/bin/python3 (Debian's torch 1.13; the
 * `python3` on PATH may be another Python without torch). When that Python or its torch is missing, the table says
 * so ("not available (...)"): no stored figure stands in for a measurement.
 */
import { spawnSync } from 'child_process';
import * as os from 'os';
import * as path from 'path';
import { describeNetwork, forwardFlops, MAX_FILTERS_2D, MAX_NUM_FILTERS_3D, UNetPlansConfiguration } from '../sdk/network/architecture';

export const TORCH_PYTHON = process.env.NNUNET_REFERENCE_PYTHON ?? '/usr/bin/python3';
const SCRIPT = path.join(__dirname, 'python', 'torch_cpu_bench.py');

export type TorchWhat = 'train_step' | 'gradients' | 'forward' | 'tile';

export interface TorchRun {
  name: string;
  what: TorchWhat;
  /** The network part of the plans (patch_size is the tile / training patch unless `patch` is given). */
  cfg: UNetPlansConfiguration;
  numClasses: number;
  batchDice: boolean;
  /** Spatial size timed, default cfg.patch_size. */
  patch?: number[];
  batch: number;
  threads: number;
  iterations: number;
  warmup?: number;
  /** tile: sum over v1's mirrorings (8 in 3d, 4 in 2d). */
  mirror?: boolean;
}

export interface TorchResult {
  name: string;
  what: TorchWhat;
  threads: number;
  median_s: number;
  all_s: number[];
  forward_gflop: number;
  gflops: number;
  parameters: number;
}

/** A PyTorch figure, or why there is none. */
export type TorchOutcome = { ok: true; torch: string; result: TorchResult; load: [number, number] } | { ok: false; reason: string };

/** Why a Python cannot time anything (no such file, no torch), so later calls do not retry it. */
const unavailable = new Map<string, string>();

/** `--torch off` in the bench's arguments skips PyTorch (the tables then say 'not run (--torch off)'). */
export function torchDisabled(args: string[]): string | null {
  const i = args.indexOf('--torch');
  return i >= 0 && args[i + 1] === 'off' ? 'not run (--torch off)' : null;
}

/**
 * Times `runs` in PyTorch (one Python process, in order) and returns one outcome per run. Checks that PyTorch's
 * network is ours: the same parameter count and forward FLOPs (sdk/network/architecture.ts) or the run is refused.
 */
export function runTorch(runs: TorchRun[], disabled: string | null = null, python = TORCH_PYTHON): TorchOutcome[] {
  const none = (reason: string): TorchOutcome[] => runs.map(() => ({ ok: false, reason }));
  if (disabled) return none(disabled);
  const known = unavailable.get(python);
  if (known) return none(known);
  const refuse = (reason: string): TorchOutcome[] => {
    unavailable.set(python, reason);
    return none(reason);
  };
  const specs = runs.map((r) => {
    const dim = r.cfg.patch_size.length;
    return {
      name: r.name,
      what: r.what,
      network: {
        num_input_channels: 1,
        base_num_features: r.cfg.UNet_base_num_features,
        num_classes: r.numClasses,
        pool_op_kernel_sizes: r.cfg.pool_op_kernel_sizes,
        conv_kernel_sizes: r.cfg.conv_kernel_sizes,
        max_num_features: dim === 2 ? MAX_FILTERS_2D : MAX_NUM_FILTERS_3D, // our default (v1's trainer)
        batch_dice: r.batchDice,
      },
      patch_size: r.patch ?? r.cfg.patch_size,
      batch: r.batch,
      threads: r.threads,
      iterations: r.iterations,
      warmup: r.warmup ?? 1,
      mirror: r.mirror ?? false,
    };
  });
  console.log(`\nPyTorch (${python} ${path.relative(process.cwd(), SCRIPT)}): ${runs.map((r) => `${r.name} ${r.what}, ${r.threads} thread(s)`).join('; ')}`);
  const load0 = os.loadavg()[0];
  const p = spawnSync(python, [SCRIPT, JSON.stringify({ runs: specs })], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 16 << 20 });
  if (p.error) return refuse(`not available (${(p.error as NodeJS.ErrnoException).code === 'ENOENT' ? `no ${python}` : p.error.message})`);
  let out: { torch?: string; error?: string; results?: TorchResult[] } = {};
  try {
    out = JSON.parse(p.stdout.trim().split('\n').pop() ?? '');
  } catch {
    // not JSON: a crash, a stub (.ci/without-python exits 127), a kill
  }
  if (p.status === 3 && out.error) return refuse(`not available (no torch in ${python})`);
  if (p.status === 127) return refuse(`not available (${python} does not run: exit 127)`);
  if (p.status !== 0 || !out.results) return none(`PyTorch failed (${p.signal ? `killed by ${p.signal}` : `exit ${p.status}`}; its error is above)`);
  return out.results.map((res, i) => {
    const r = runs[i];
    const arch = describeNetwork({ ...r.cfg, patch_size: r.cfg.patch_size }, { numInputChannels: 1, numClasses: r.numClasses }).architecture;
    const params = arch.params.reduce((a, q) => a + q.shape.reduce((x, y) => x * y, 1), 0);
    const F = forwardFlops(arch, specs[i].patch_size, r.batch) / 1e9;
    if (params !== res.parameters || Math.abs(F - res.forward_gflop) > 1e-6 * F) {
      return { ok: false, reason: `PyTorch's network differs from ours (${res.parameters} vs ${params} parameters, ${res.forward_gflop} vs ${F} forward GFLOP)` };
    }
    return { ok: true, torch: out.torch ?? '?', result: res, load: [load0, os.loadavg()[0]] as [number, number] };
  });
}

/** PyTorch's median seconds, or why there is none. */
export function torchSeconds(o: TorchOutcome, digits = 2): string {
  return o.ok ? o.result.median_s.toFixed(digits) : o.reason;
}

/** ours / PyTorch (above 1: ours is slower), '-' without a PyTorch figure. */
export function ratio(ours: number, o: TorchOutcome): string {
  return o.ok && Number.isFinite(ours) ? (ours / o.result.median_s).toFixed(2) : '-';
}

/** PyTorch's GFLOP/s (conv multiply-adds as ours count them), '-' without a figure. */
export function torchGflops(o: TorchOutcome): string {
  return o.ok ? o.result.gflops.toFixed(1) : '-';
}

/**
 * The PyTorch line under a table: which torch, the 1-minute load average around its runs (the machine may be shared:
 * a load above the core count slows both sides, a multi-threaded PyTorch most), or why there is no PyTorch column.
 */
export function torchNote(outcomes: TorchOutcome[], python = TORCH_PYTHON): string {
  const oks = outcomes.filter((o) => o.ok) as Extract<TorchOutcome, { ok: true }>[];
  const ok = oks[0];
  const loads = oks.flatMap((o) => o.load);
  const bad = [...new Set(outcomes.filter((o) => !o.ok).map((o) => (o as { reason: string }).reason))];
  return [
    ok
      ? `PyTorch ${ok.torch} on the CPU (${python}), fp32, measured in this run right after ours, same shapes and thread count; ` +
        `1-min load average ${Math.min(...loads).toFixed(1)}-${Math.max(...loads).toFixed(1)} during PyTorch's runs on ${os.cpus().length} cores`
      : '',
    ...bad.map((b) => `PyTorch: ${b}`),
  ].filter(Boolean).join('\n');
}
