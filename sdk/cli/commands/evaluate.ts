import * as fs from 'fs';
import * as path from 'path';
import type { CommandSpec } from '../args';
import { UsageError } from '../args';
import { evaluateFolder } from '../../evaluation/folders';
import { addForegroundMean } from '../../evaluation/evaluator';

/** nnUNet_evaluate_folder (v1 evaluation/evaluator.py evaluate_folder): writes <pred>/summary.json. */
export const evaluateCommand: CommandSpec = {
  name: 'evaluate',
  summary: 'evaluate a folder of predictions against references (nnUNet_evaluate_folder)',
  usage: 'evaluate --ref DIR --pred DIR [-l 1 2 ...]',
  flags: [
    { name: 'ref', alias: 'ref', type: 'string', help: 'reference label folder (<case>.nii.gz)' },
    { name: 'pred', alias: 'pred', type: 'string', help: 'prediction folder (same file names)' },
    { name: 'labels', alias: 'l', type: 'list', help: "labels to evaluate (default: those of dataset.json next to --ref)" },
  ],
  async run({ positionals, flags }) {
    if (positionals.length) throw new UsageError(`unexpected arguments: ${positionals.join(' ')}`);
    const ref = flags.ref as string | undefined;
    const pred = flags.pred as string | undefined;
    if (!ref || !pred) throw new UsageError('--ref DIR and --pred DIR are required');
    let labels = (flags.labels as string[] | undefined)?.map((l) => {
      const n = Number(l);
      if (!Number.isInteger(n) || n < 0) throw new UsageError(`labels must be non-negative integers, got '${l}'`);
      return n;
    });
    if (!labels) {
      const dj = path.join(path.dirname(path.resolve(ref)), 'dataset.json');
      if (!fs.existsSync(dj)) throw new UsageError(`give the labels with -l (no ${dj} to read them from)`);
      const j = JSON.parse(fs.readFileSync(dj, 'utf8')) as { labels?: Record<string, unknown> };
      if (!j.labels) throw new UsageError(`${dj} has no labels; give them with -l`);
      // MSD: {"0": "background", ...}; v2: {"background": 0, ...}
      labels = Object.entries(j.labels).map(([k, v]) => (typeof v === 'number' ? v : Number(k))).filter((n) => Number.isInteger(n)).sort((a, b) => a - b);
    }
    const res = addForegroundMean(await evaluateFolder(ref, pred, labels));
    console.log(`evaluated ${res.all.length} cases; summary: ${path.join(pred, 'summary.json')}`);
    for (const [k, m] of Object.entries(res.mean)) console.log(`  ${k === 'mean' ? 'foreground mean' : `label ${k}`}: Dice ${Number((m as Record<string, number>).Dice).toFixed(4)}`);
    return 0;
  },
};
