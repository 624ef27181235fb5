/**
 * The training log of one fold: `training_log.jsonl`, one JSON object per finished epoch (our counterpart of v1's
 * `training_log_<date>.txt` plus the lists nnU-Net keeps in the checkpoint: all_tr_losses, all_val_losses,
 * all_val_eval_metrics). The whole file is rewritten atomically after every epoch (it is small), so a killed process
 * never leaves half a line. Field names match sdk/viz `TrainingCurveEntry`, so the log plots directly.
 */
import * as fs from 'fs';
import { writeFileAtomic } from '../io/atomic';
import type { TrainingCurveEntry } from '../viz/training_curves';

export interface TrainingLogEntry extends TrainingCurveEntry {
  /** 0-based epoch index (v1 self.epoch). */
  epoch: number;
  /** Mean training loss over the epoch's iterations (v1 all_tr_losses). Negative values are normal (−Dice + CE). */
  train_loss: number;
  /** Mean loss over the validation iterations (v1 all_val_losses). */
  val_loss: number;
  /** Online "global" Dice per foreground class over the validation iterations (NaN where the class never occurred). */
  pseudo_dice: number[];
  /** Mean of pseudo_dice over non-NaN classes (v1 all_val_eval_metrics). */
  mean_pseudo_dice: number;
  /** Moving average of the metric, α 0.9 (v1 val_eval_criterion_MA). */
  ema: number;
  /** Learning rate used during this epoch (poly schedule). */
  lr: number;
  /** Wall seconds of the epoch (training + validation iterations). */
  epoch_time: number;
  /** Seconds the training loop waited for augmented batches (starvation; 0 when augmentation keeps up). */
  wait_augmentation_s: number;
  /** Mean seconds the augmentation pipeline took per training batch (in its worker; overlaps training). */
  augmentation_s_per_batch: number;
  /** Mean seconds per training iteration. */
  seconds_per_iteration: number;
  /** Global L2 gradient norm before clipping, mean over the epoch. */
  grad_norm_mean: number;
  /** ISO time the epoch finished. */
  timestamp: string;
}

/** JSON cannot hold NaN: stored as null, read back as NaN. */
function encodeNumber(v: number): number | null {
  return Number.isFinite(v) ? v : null;
}

function toJsonLine(e: TrainingLogEntry): string {
  const o: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(e)) {
    if (typeof v === 'number') o[k] = encodeNumber(v);
    else if (Array.isArray(v)) o[k] = v.map((x) => (typeof x === 'number' ? encodeNumber(x) : x));
    else o[k] = v;
  }
  return JSON.stringify(o);
}

function fromJson(o: Record<string, unknown>): TrainingLogEntry {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) {
    if (v === null) out[k] = NaN;
    else if (Array.isArray(v)) out[k] = v.map((x) => (x === null ? NaN : x));
    else out[k] = v;
  }
  return out as unknown as TrainingLogEntry;
}

export function serializeTrainingLog(entries: readonly TrainingLogEntry[]): string {
  return entries.map(toJsonLine).join('\n') + (entries.length ? '\n' : '');
}

/** Parse JSON lines; errors name the file and the line. */
export function parseTrainingLog(text: string, file = '<training log>'): TrainingLogEntry[] {
  const out: TrainingLogEntry[] = [];
  text.split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    let o: unknown;
    try {
      o = JSON.parse(line);
    } catch (e) {
      throw new Error(`${file}: line ${i + 1} is not valid JSON (${(e as Error).message})`);
    }
    if (!o || typeof o !== 'object' || typeof (o as { epoch?: unknown }).epoch !== 'number')
      throw new Error(`${file}: line ${i + 1} is not a training log entry (no numeric 'epoch')`);
    out.push(fromJson(o as Record<string, unknown>));
  });
  return out;
}

export function readTrainingLog(file: string): TrainingLogEntry[] {
  if (!fs.existsSync(file)) throw new Error(`${file}: training log not found`);
  return parseTrainingLog(fs.readFileSync(file, 'utf8'), file);
}

export async function writeTrainingLog(file: string, entries: readonly TrainingLogEntry[]): Promise<void> {
  await writeFileAtomic(file, serializeTrainingLog(entries));
}
