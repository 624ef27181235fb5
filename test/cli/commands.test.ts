/**
 * The CLI through cliMain (in-process): --help and usage errors (exit 2) for every command, and a tiny end-to-end
 * `train` + `predict` + `evaluate` on the trainer tests' synthetic task (test/training/trainer_fixture.ts).
 */
import { afterEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';

import { runCli as run } from '../helpers/cli';
import { COMMANDS } from '../../sdk/cli/commands';
import { readNifti } from '../../sdk/io/nifti';
import { tinyTask } from '../training/trainer_fixture';

process.env.NNUNET_PROGRESS = '0';


afterEach(() => {
  process.exitCode = 0;
});

const MINE = ['train', 'predict', 'ensemble', 'evaluate', 'find_best_configuration', 'postprocess', 'import-model', 'export-model'];

describe('CLI', () => {
  test('every command is registered (existing ones kept) and answers --help with exit 0', async () => {
    const names = COMMANDS.map((c) => c.name);
    for (const n of ['start', 'plan_and_preprocess', 'doctor', ...MINE]) assert.ok(names.includes(n), n);
    for (const n of MINE) {
      const r = await run([n, '--help']);
      assert.equal(r.code, 0, n);
      assert.match(r.out, new RegExp(`^nnunet-ts ${n}: `), n);
      assert.match(r.out, /usage: nnunet-ts /, n);
    }
  });

  test('usage errors exit 2 with the command help', async () => {
    const cases: string[][] = [
      ['train'],
      ['train', '3d_fullres', 'x', '-i', '/nonexistent'],
      ['train', '3d_fullres', '0', '-i', '/tmp', '--epochs', '0'],
      ['predict', '-i', 'a', '-o', 'b'],
      ['predict', '--no-such-flag'],
      ['ensemble', '-i', 'only_one', '-o', 'out'],
      ['evaluate', '--ref', 'a'],
      ['find_best_configuration'],
      ['postprocess', 'sideways'],
      ['postprocess', 'apply', '-i', 'a'],
      ['export-model'],
      ['export-model', '--format', 'onnx', '-t', 'a', '-o', 'b'],
    ];
    for (const argv of cases) {
      const r = await run(argv);
      assert.equal(r.code, 2, `${argv.join(' ')}: ${r.err}`);
      assert.match(r.err, /usage: nnunet-ts /);
    }
  });

  test('failures exit 1 with the reason (missing task folder, missing plans)', async () => {
    const r = await run(['train', '3d_fullres', '0', '-i', '/nonexistent_task_dir']);
    assert.equal(r.code, 1);
    assert.match(r.err, /nonexistent_task_dir: no such task folder/);
    const t = await tinyTask();
    const p = await run(['predict', '-i', t.dataset.dir, '-o', path.join(t.root, 'x'), '-t', t.dataset.dir, '--work', path.join(t.root, 'cli_empty')]);
    assert.equal(p.code, 1);
    assert.match(p.err, /nnUNetPlansv2\.1\.json: no plans/);
  });

  test('train + predict + evaluate end to end on a tiny task', async () => {
    const t = await tinyTask();
    const work = path.join(t.root, 'cli_work');
    const tr = await run([
      'train', '3d_fullres', '0', '-i', t.dataset.dir, '--work', work,
      '--epochs', '1', '--iterations', '2', '--val-iterations', '1', '--batch-size', '2', '--seed', '1', '--threads', '1',
    ]);
    assert.equal(tr.code, 0, tr.err);
    const modelFolder = path.join(work, 'nnUNet_results', 'Task99_Tiny', 'nnUNetTrainerV2__nnUNetPlansv2.1__3d_fullres');
    assert.ok(fs.existsSync(path.join(modelFolder, 'fold_0', 'checkpoint_final.json')), 'final checkpoint');
    assert.ok(fs.existsSync(path.join(modelFolder, 'fold_0', 'validation_raw', 'summary.json')), 'validation summary');
    // predict the fold's validation cases from a folder in the v2 test layout
    const splits = JSON.parse(fs.readFileSync(path.join(work, 'nnUNet_preprocessed', 'Task99_Tiny', 'splits_final.json'), 'utf8'));
    const val: string[] = splits[0].val;
    const inDir = path.join(t.root, 'cli_in');
    const outDir = path.join(t.root, 'cli_out');
    const refDir = path.join(t.root, 'cli_ref');
    fs.mkdirSync(inDir, { recursive: true });
    fs.mkdirSync(refDir, { recursive: true });
    for (const id of val) {
      fs.copyFileSync(path.join(t.dataset.dir, 'imagesTr', `${id}.nii.gz`), path.join(inDir, `${id}_0000.nii.gz`));
      fs.copyFileSync(path.join(t.dataset.dir, 'labelsTr', `${id}.nii.gz`), path.join(refDir, `${id}.nii.gz`));
    }
    const pr = await run(['predict', '-i', inDir, '-o', outDir, '-t', t.dataset.dir, '-c', '3d_fullres', '-f', '0', '--work', work]);
    assert.equal(pr.code, 0, pr.err);
    for (const id of val) {
      const p = await readNifti(path.join(outDir, `${id}.nii.gz`));
      const v = await readNifti(path.join(modelFolder, 'fold_0', 'validation_raw', `${id}.nii.gz`));
      assert.deepEqual(p.shape, v.shape);
      // predict applies the fold's postprocessing only when the configuration folder has a postprocessing.json
      // (consolidation writes it); here there is none, so the result is the validation export itself
      assert.ok(Array.from(p.data).every((x, i) => x === v.data[i]), id);
    }
    const ev = await run(['evaluate', '--ref', refDir, '--pred', outDir, '-l', '0', '1', '2']);
    assert.equal(ev.code, 0, ev.err);
    assert.ok(fs.existsSync(path.join(outDir, 'summary.json')));
    assert.match(ev.out, /label 1: Dice \d\.\d{4}/);
  });
});
