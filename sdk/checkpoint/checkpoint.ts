/**
 * Training checkpoints (v1 network_trainer.save_checkpoint / load_checkpoint: model_latest every `save_every` epochs,
 * model_best when the moving average improves, model_final_checkpoint at the end). Ours are named
 * `checkpoint_latest`, `checkpoint_best`, `checkpoint_final` and consist of
 *
 *   <name>.json                 manifest (format nnunet-ts-checkpoint v1): identity, epoch, RNG/seed state, EMA,
 *                               the training log, optimiser hyper-parameters and the momentum-buffer table
 *   <name>.e<epoch>.weights.*   network weights in sdk/network/weights.ts format (architecture included)
 *   <name>.e<epoch>.optim.bin   SGD momentum buffers, little-endian float32 in table order
 *
 * Crash safety: the epoch-stamped data files are written first, then the manifest atomically replaces the previous
 * one, then data files no manifest refers to are deleted. A process killed at any moment leaves either the old or
 * the new checkpoint complete on disk.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { readJsonSync, writeFileAtomic, writeJsonAtomic } from '../io/atomic';
import { GenericUNet } from '../network/generic_unet';
import { loadWeightsInto, readWeights, saveWeights } from '../network/weights';
import { architectureDifference } from '../network/weights_codec';
import type { NetworkArchitecture } from '../network/architecture';
import { loadNetwork } from '../network/weights';
import { parseTrainingLog, serializeTrainingLog, TrainingLogEntry } from './training_log';

/** The optimiser state a checkpoint stores (torch.optim.SGD's; sdk/training/optimizer.ts's SGDNesterov). */
export interface SGDState {
  lr: number;
  momentum: number;
  weightDecay: number;
  nesterov: boolean;
  /** Momentum buffers by variable name (absent until the first step, as torch). */
  buffers: Record<string, { shape: number[]; data: number[] }>;
}

/** What a checkpoint needs of an optimiser: its state out and back in (kept structural so this folder does not import the trainer). */
export interface CheckpointOptimizer {
  getState(): Promise<SGDState>;
  setState(state: SGDState): void;
}

export const CHECKPOINT_FORMAT = 'nnunet-ts-checkpoint';
export const CHECKPOINT_VERSION = 1;
export type CheckpointName = 'checkpoint_latest' | 'checkpoint_best' | 'checkpoint_final';

/** What a checkpoint belongs to; resuming refuses a checkpoint whose identity differs. */
export interface CheckpointIdentity {
  trainer: string;
  plans_name: string;
  configuration: string;
  fold: number | 'all';
  dataset_name: string;
  /**
   * sha256 of what else decides the trained weights (the configuration with overrides, schedule, seed, learning
   * rate, classes): a finished run is reused only when it matches (sdk/training/trainer.ts). Absent in older files.
   */
  run_key?: string;
}

/** Trainer state besides weights and momentum buffers. */
export interface TrainerState {
  /** Number of finished epochs (= index of the next epoch to train). */
  epoch: number;
  maxEpochs: number;
  iterationsPerEpoch: number;
  validationIterations: number;
  /** Base seed; every batch seed is derived from (seed, epoch, iteration, split), see trainer.ts. */
  seed: number;
  /** Current SGD momentum (v1 lowers it to 0.95 at epoch 100 when the metric is still 0). */
  momentum: number;
  /** val_eval_criterion_MA (null before the first epoch). */
  ema: number | null;
  /** Best MA seen so far (v1 best_val_eval_criterion_MA). */
  bestEma: number | null;
  log: TrainingLogEntry[];
}

interface OptimBufferEntry {
  /** state_dict name of the parameter the buffer belongs to */
  name: string;
  shape: number[];
  offset: number;
  length: number;
}

export interface CheckpointManifest {
  format: typeof CHECKPOINT_FORMAT;
  version: number;
  identity: CheckpointIdentity;
  saved_at: string;
  trainer_state: Omit<TrainerState, 'log'>;
  /** training_log.jsonl content at save time (NaN-safe JSON lines). */
  log_jsonl: string;
  /** Weights prefix relative to the manifest's folder. */
  weights: string;
  optimizer: {
    file: string;
    lr: number;
    momentum: number;
    weightDecay: number;
    nesterov: boolean;
    buffers: OptimBufferEntry[];
  };
}

export interface LoadedCheckpoint {
  file: string;
  manifest: CheckpointManifest;
  state: TrainerState;
}

export function checkpointFile(dir: string, name: CheckpointName): string {
  return path.join(dir, `${name}.json`);
}

/** tfjs variable name -> state_dict name (variables carry an instance prefix that differs between processes). */
function stateNames(net: GenericUNet): Map<string, string> {
  const m = new Map<string, string>();
  for (const [n, v] of net.variables) m.set(v.name, n);
  return m;
}

/** Save weights, momentum buffers and trainer state as `<dir>/<name>.json` (+ data files), crash-safe. */
export async function saveCheckpoint(
  dir: string,
  name: CheckpointName,
  net: GenericUNet,
  optimizer: CheckpointOptimizer,
  identity: CheckpointIdentity,
  state: TrainerState,
): Promise<string> {
  fs.mkdirSync(dir, { recursive: true });
  const stamp = `${name}.e${String(state.epoch).padStart(4, '0')}`;
  const weightsPrefix = `${stamp}.weights`;
  await saveWeights(net, path.join(dir, weightsPrefix));
  const sgd = await optimizer.getState();
  const toState = stateNames(net);
  const buffers: OptimBufferEntry[] = [];
  let offset = 0;
  const names = Object.keys(sgd.buffers).sort((a, b) => (toState.get(a) ?? a).localeCompare(toState.get(b) ?? b));
  for (const n of names) {
    const b = sgd.buffers[n];
    const sn = toState.get(n);
    if (!sn) throw new Error(`saveCheckpoint: momentum buffer '${n}' belongs to no parameter of the network`);
    buffers.push({ name: sn, shape: b.shape, offset, length: b.data.length });
    offset += b.data.length * 4;
  }
  const blob = new Uint8Array(offset);
  const dv = new DataView(blob.buffer);
  for (let i = 0; i < names.length; i++) {
    const d = sgd.buffers[names[i]].data;
    const o = buffers[i].offset;
    for (let k = 0; k < d.length; k++) dv.setFloat32(o + 4 * k, d[k], true);
  }
  const optimFile = `${stamp}.optim.bin`;
  await writeFileAtomic(path.join(dir, optimFile), blob);
  const { log, ...rest } = state;
  const manifest: CheckpointManifest = {
    format: CHECKPOINT_FORMAT,
    version: CHECKPOINT_VERSION,
    identity,
    saved_at: new Date().toISOString(),
    trainer_state: rest,
    log_jsonl: serializeTrainingLog(log),
    weights: weightsPrefix,
    optimizer: { file: optimFile, lr: sgd.lr, momentum: sgd.momentum, weightDecay: sgd.weightDecay, nesterov: sgd.nesterov, buffers },
  };
  const file = checkpointFile(dir, name);
  await writeJsonAtomic(file, manifest);
  // drop data files of older saves of this checkpoint (the manifest now points at the new ones)
  const keep = new Set([`${weightsPrefix}.json`, `${weightsPrefix}.bin`, optimFile]);
  for (const f of fs.readdirSync(dir)) {
    if (f.startsWith(`${name}.e`) && !keep.has(f)) fs.rmSync(path.join(dir, f), { force: true });
  }
  return file;
}

/** Delete a checkpoint's manifest (first, so no manifest points at missing data) and its data files. */
export function removeCheckpoint(dir: string, name: CheckpointName): void {
  fs.rmSync(checkpointFile(dir, name), { force: true });
  if (!fs.existsSync(dir)) return;
  for (const f of fs.readdirSync(dir)) if (f.startsWith(`${name}.e`)) fs.rmSync(path.join(dir, f), { force: true });
}

/** Read and validate a checkpoint manifest and the presence/size of its data files (errors name the file). */
export function readCheckpoint(file: string): LoadedCheckpoint {
  if (!fs.existsSync(file)) throw new Error(`${file}: checkpoint not found`);
  const m = readJsonSync<CheckpointManifest>(file);
  if (!m || m.format !== CHECKPOINT_FORMAT)
    throw new Error(`${file}: not an nnunet-ts checkpoint (format ${JSON.stringify(m && (m as { format?: unknown }).format)})`);
  if (m.version !== CHECKPOINT_VERSION) throw new Error(`${file}: unsupported checkpoint version ${m.version} (this build reads ${CHECKPOINT_VERSION})`);
  for (const k of ['identity', 'trainer_state', 'weights', 'optimizer'] as const)
    if (m[k] === undefined || m[k] === null) throw new Error(`${file}: corrupt checkpoint (missing '${k}')`);
  const dir = path.dirname(file);
  for (const f of [`${m.weights}.json`, `${m.weights}.bin`, m.optimizer.file])
    if (!fs.existsSync(path.join(dir, f))) throw new Error(`${file}: checkpoint data file ${path.join(dir, f)} is missing`);
  const optimBytes = fs.statSync(path.join(dir, m.optimizer.file)).size;
  const need = m.optimizer.buffers.reduce((s, b) => Math.max(s, b.offset + 4 * b.length), 0);
  if (optimBytes < need) throw new Error(`${path.join(dir, m.optimizer.file)}: truncated (${optimBytes} bytes, momentum buffers need ${need})`);
  const log = parseTrainingLog(m.log_jsonl ?? '', `${file} (log_jsonl)`);
  return { file, manifest: m, state: { ...m.trainer_state, log } };
}

/** Throw a clear error when a checkpoint belongs to another trainer/plans/configuration/fold. */
export function checkIdentity(file: string, got: CheckpointIdentity, expected: CheckpointIdentity): void {
  for (const k of ['trainer', 'plans_name', 'configuration', 'fold', 'dataset_name'] as const) {
    if (got[k] !== expected[k]) {
      throw new Error(
        `${file}: checkpoint belongs to ${k} ${JSON.stringify(got[k])}, this run is ${k} ${JSON.stringify(expected[k])}; ` +
          `refusing to resume (train this configuration in its own output folder or start without resume)`,
      );
    }
  }
  if (got.run_key && expected.run_key && got.run_key !== expected.run_key) {
    throw new Error(
      `${file}: checkpoint was trained with other settings (configuration, schedule, seed, learning rate or classes) ` +
        `than this run; refusing to resume (start without resume to retrain)`,
    );
  }
}

/** Architecture stored with the checkpoint's weights. */
export function checkpointArchitecture(ck: LoadedCheckpoint): NetworkArchitecture {
  return readWeights(path.join(path.dirname(ck.file), ck.manifest.weights)).manifest.architecture;
}

/** Load weights and momentum buffers of a checkpoint into an existing network and optimiser. */
export function restoreCheckpoint(ck: LoadedCheckpoint, net: GenericUNet, optimizer: CheckpointOptimizer): void {
  const dir = path.dirname(ck.file);
  const prefix = path.join(dir, ck.manifest.weights);
  const arch = readWeights(prefix).manifest.architecture;
  const diff = architectureDifference(arch, net.architecture);
  if (diff) throw new Error(`${ck.file}: the checkpoint's network differs from this configuration's (${diff}); refusing to resume`);
  loadWeightsInto(net, prefix);
  const o = ck.manifest.optimizer;
  const buf = fs.readFileSync(path.join(dir, o.file));
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const byState = new Map<string, tf.Variable>(net.variables);
  const buffers: SGDState['buffers'] = {};
  for (const b of o.buffers) {
    const v = byState.get(b.name);
    if (!v) throw new Error(`${ck.file}: momentum buffer for unknown parameter '${b.name}'`);
    const n = b.shape.reduce((a, c) => a * c, 1);
    if (n !== b.length || v.size !== n) throw new Error(`${ck.file}: momentum buffer '${b.name}' has shape [${b.shape}], parameter [${v.shape}]`);
    const data = new Float32Array(b.length);
    for (let i = 0; i < b.length; i++) data[i] = dv.getFloat32(b.offset + 4 * i, true);
    // SGDState types the data as number[]; a Float32Array is accepted by tf.tensor and avoids a copy
    buffers[v.name] = { shape: b.shape, data: data as unknown as number[] };
  }
  optimizer.setState({ lr: o.lr, momentum: o.momentum, weightDecay: o.weightDecay, nesterov: o.nesterov, buffers });
}

/** The checkpoint to resume from: the one with the most finished epochs among final and latest (v1 prefers final). */
export function findResumeCheckpoint(dir: string): string | null {
  let best: { file: string; epoch: number } | null = null;
  for (const name of ['checkpoint_final', 'checkpoint_latest'] as CheckpointName[]) {
    const f = checkpointFile(dir, name);
    if (!fs.existsSync(f)) continue;
    const ep = readCheckpoint(f).state.epoch;
    if (!best || ep > best.epoch) best = { file: f, epoch: ep };
  }
  return best ? best.file : null;
}

/** Load a trained network from a fold folder's checkpoint (final by default): what inference needs of a model folder. */
export function loadTrainedNetwork(outputDir: string, which: CheckpointName = 'checkpoint_final'): GenericUNet {
  const ck = readCheckpoint(checkpointFile(outputDir, which));
  return loadNetwork(path.join(path.dirname(ck.file), ck.manifest.weights));
}
