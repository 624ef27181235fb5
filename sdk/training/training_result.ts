/** What a training run leaves: its log, checkpoint and validation, as one inspectable object for notebooks. */
import * as fs from 'fs';
import * as path from 'path';
import * as aq from 'arquero';
import { checkpointFile } from '../checkpoint/checkpoint';
import { readTrainingLog, type TrainingLogEntry } from '../checkpoint/training_log';
import { trainingCurves } from '../viz/training_curves';
import type { Figure } from '../viz/figure';
import type { ValidationResult } from './validation';

/** The outcome of trainFold: log, metrics, paths; `.table()` and `.plot()` for notebooks. */
export class TrainingResult {
  constructor(
    readonly outputDir: string,
    readonly configuration: string,
    readonly fold: number | 'all',
    readonly log: TrainingLogEntry[],
    readonly checkpoint: string,
    readonly validation: ValidationResult | null,
    /** Wall seconds of the training epochs run by this call (not counting validation). */
    readonly trainSeconds: number,
    readonly stoppedEarly: boolean,
    /** A finished run of the same identity and settings was found: nothing was trained by this call. */
    readonly reused = false,
  ) {}

  get logFile(): string {
    return path.join(this.outputDir, 'training_log.jsonl');
  }

  /** Final online pseudo-Dice per class (last epoch). */
  get finalPseudoDice(): number[] {
    return this.log.length ? this.log[this.log.length - 1].pseudo_dice.slice() : [];
  }

  /** One row per epoch. */
  table(): aq.ColumnTable {
    const nC = Math.max(0, ...this.log.map((e) => e.pseudo_dice.length));
    const cols: Record<string, unknown[]> = {
      epoch: this.log.map((e) => e.epoch),
      train_loss: this.log.map((e) => e.train_loss),
      val_loss: this.log.map((e) => e.val_loss),
      mean_pseudo_dice: this.log.map((e) => e.mean_pseudo_dice),
      ema: this.log.map((e) => e.ema),
      lr: this.log.map((e) => e.lr),
      epoch_time: this.log.map((e) => e.epoch_time),
      wait_augmentation_s: this.log.map((e) => e.wait_augmentation_s),
    };
    for (let c = 0; c < nC; c++) cols[`pseudo_dice_${c + 1}`] = this.log.map((e) => e.pseudo_dice[c] ?? NaN);
    return aq.table(cols);
  }

  /** nnU-Net style progress figure (loss, pseudo-Dice, EMA, epoch time, lr). */
  plot(opts: { classNames?: string[] } = {}): Figure {
    return trainingCurves(this.log, { title: `${this.configuration} fold ${this.fold}`, classNames: opts.classNames });
  }

  summary(): string {
    const last = this.log[this.log.length - 1];
    const lines = [
      `training ${this.configuration} fold ${this.fold}: ${this.log.length} epochs in ${this.outputDir}`,
      last
        ? `  last epoch ${last.epoch}: train loss ${last.train_loss.toFixed(4)}, val loss ${last.val_loss.toFixed(4)}, ` +
          `pseudo Dice [${last.pseudo_dice.map((d) => d.toFixed(3)).join(', ')}], EMA ${last.ema.toFixed(4)}`
        : '  no epochs',
    ];
    if (this.validation) {
      lines.push(
        `  validation: ${Object.entries(this.validation.meanDice)
          .map(([k, v]) => `Dice ${k} ${v.toFixed(4)}`)
          .join(', ')} (${this.validation.summaryFile})`,
      );
    }
    return lines.join('\n');
  }

  toString(): string {
    return this.summary();
  }
}

/** Reopen a finished (or running) training folder's log as a TrainingResult (no validation attached). */
export function loadTrainingResult(outputDir: string, configuration: string, fold: number | 'all'): TrainingResult {
  const log = readTrainingLog(path.join(outputDir, 'training_log.jsonl'));
  const ck = fs.existsSync(checkpointFile(outputDir, 'checkpoint_final'))
    ? checkpointFile(outputDir, 'checkpoint_final')
    : checkpointFile(outputDir, 'checkpoint_latest');
  return new TrainingResult(outputDir, configuration, fold, log, ck, null, 0, false);
}
