import * as path from 'path';
import type { CommandSpec } from '../args';
import { Task } from '../../task';
import { readNifti } from '../../io/nifti';
import { evaluateFolder } from '../../evaluation/folders';
import { barChart } from '../../viz/figure';
import { sliceViewer } from '../../viz/slice_viewer';
import { trainingCurves } from '../../viz/training_curves';
import { ReportSection, writeReport } from '../../viz/report';
import { formatSeconds } from '../../util/progress';
import { generateTask, SYNTH_LUNG_PROFILES } from '../../../data-scripts/synthetic_lung';
import { FOLDER_FLAGS, taskOptionsFrom } from './common';
import { runFullDemo } from './start_all';
import { resolveRoots } from '../../paths';

/** The quick start's task has its own folder: the notebooks and `--all` use the 'small'/'default' profiles under Task06_SynthLung. */
export const QUICKSTART_TASK = 'Task06_SynthLungQuickstart';

/**
 * nnUNetPlansv2.1 re-planned for a 0.25 GB "GPU" (the v1 alternative planners' VRAM scaling, v2's
 * -gpu_memory_target): CPU-sized 3d_fullres patches (20x56x56, batch 2 on the quickstart task).
 */
const CPU_GPU_MEMORY_GB = 0.25;
const CONFIGURATION = '3d_fullres';
/**
 * The short schedule (nnU-Net: 1000 epochs x 250 iterations, 50 validation iterations). Measured on this 2-core
 * machine (wasm backend): about 4.3 s per iteration, so training takes about 8 minutes of the 10-minute budget.
 */
const DEFAULT_EPOCHS = 10;
const DEFAULT_ITERATIONS = 10;
const VALIDATION_ITERATIONS = 1;
/** The quick start's promise (issue 25): mean foreground Dice on the held-out cases. */
const TARGET_DICE = 0.75;

function seconds(t0: number): string {
  return formatSeconds((Date.now() - t0) / 1000);
}

/**
 * `npm start`: the main job on the embedded default dataset, the synthetic lung CT task's quickstart profile
 * (12 training cases, 3 held-out cases with ground truth): plan, preprocess, train 3d_fullres on all training
 * cases (nnU-Net's fold 'all'), predict the held-out cases, score them, and write one self-contained HTML report.
 * `--all` runs the full multi-configuration demonstration instead (start_all.ts).
 */
export const startCommand: CommandSpec = {
  name: 'start',
  summary: 'the main job on the embedded synthetic lung CT task: plan, train, predict, score, HTML report (npm start)',
  usage: 'start [--all [--size small|default]] [--epochs N] [--iterations N] [--work DIR]',
  flags: [
    { name: 'all', type: 'boolean', help: 'the full demo: all 4 configurations, ensembles, model selection' },
    { name: 'size', type: 'string', help: "synthetic dataset profile of --all ('small' or 'default')" },
    { name: 'epochs', type: 'number', help: `training epochs (default ${DEFAULT_EPOCHS})` },
    { name: 'iterations', type: 'number', help: `iterations per epoch (default ${DEFAULT_ITERATIONS})` },
    ...FOLDER_FLAGS,
  ],
  async run({ flags }) {
    if (flags.all) return runFullDemo(flags);
    if (flags.size !== undefined) throw new Error('--size applies to --all only (the quick start uses the quickstart profile)');
    return runQuickStart(flags);
  },
};

async function runQuickStart(flags: Record<string, unknown>): Promise<number> {
  const t0 = Date.now();
  const opts = taskOptionsFrom(flags);
  const roots = resolveRoots(opts);
  const workDir = roots.work;
  const epochs = (flags.epochs as number | undefined) ?? DEFAULT_EPOCHS;
  const iterationsPerEpoch = (flags.iterations as number | undefined) ?? DEFAULT_ITERATIONS;
  for (const [k, v] of [['--epochs', epochs], ['--iterations', iterationsPerEpoch]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`${k} must be an integer >= 1, got ${v}`);
  }
  const timings: [string, string][] = [];
  const step = async <T>(name: string, f: () => Promise<T>): Promise<T> => {
    const t = Date.now();
    const r = await f();
    timings.push([name, seconds(t)]);
    return r;
  };

  const profile = SYNTH_LUNG_PROFILES.quickstart;
  console.log(`nnunet-ts quick start: nnU-Net on a synthetic lung CT task (${profile.numTraining} training cases, ${profile.numTest} held out), work folder ${workDir}`);
  console.log(`\n== 1/6 dataset: generating the task into ${roots.raw}`);
  const dir = await step('dataset', () => generateTask(roots.raw, { size: 'quickstart', testLabels: true, taskName: QUICKSTART_TASK }));
  const task = await Task.load(dir, opts);
  const integrity = await task.verify();
  console.log(task.summary());
  if (!integrity.ok) {
    console.log(integrity.summary());
    return 1;
  }

  console.log('\n== 2/6 fingerprint and plans (nnUNetPlansv2.1, re-planned for a 0.25 GB "GPU" so that a CPU trains it)');
  const fingerprint = await step('fingerprint', async () => task.fingerprint());
  const plans = await step('plans', async () => fingerprint.plan({ gpuMemoryTargetGB: CPU_GPU_MEMORY_GB }));
  plans.table().print();

  console.log(`\n== 3/6 preprocessing (${CONFIGURATION})`);
  const pre = await step('preprocessing', async () => plans.preprocess(CONFIGURATION));
  console.log(`${pre.caseIds.length} cases -> ${pre.dir}`);

  console.log(`\n== 4/6 training ${CONFIGURATION} on all ${profile.numTraining} training cases (fold 'all'): ${epochs} epochs x ${iterationsPerEpoch} iterations`);
  const fold = await plans.fold('all');
  const training = await step('training', async () =>
    fold.train({
      configuration: CONFIGURATION,
      epochs,
      iterationsPerEpoch,
      validationIterations: VALIDATION_ITERATIONS,
      // fold 'all' has no held-out validation cases: the held-out test cases are scored below instead
      validate: false,
      mirroring: false,
      onEpoch: ({ entry }) =>
        console.log(
          `epoch ${String(entry.epoch + 1).padStart(2)}/${epochs}  train loss ${entry.train_loss.toFixed(3).padStart(6)}  ` +
            `val loss ${entry.val_loss.toFixed(3).padStart(6)}  pseudo Dice ${entry.mean_pseudo_dice.toFixed(3)}  ${entry.epoch_time.toFixed(0)} s`,
        ),
    }),
  );

  console.log(`\n== 5/6 prediction of the ${profile.numTest} held-out cases (imagesTs) and Dice against labelsTs`);
  const predictions = path.join(workDir, 'predictions', 'quickstart');
  const prediction = await step('prediction', async () =>
    task.predict(path.join(dir, 'imagesTs'), { configuration: CONFIGURATION, plansName: plans.plansName, outputDir: predictions, folds: ['all'], mirroring: false }),
  );
  if (prediction.failed.length) {
    console.log(prediction.summary());
    return 1;
  }
  const evaluation = await evaluateFolder(path.join(dir, 'labelsTs'), predictions, [1], { json: { name: 'nnunet-ts quick start, held-out cases' } });
  const perCase = evaluation.all.map((c) => ({
    case: path.basename(String(c.reference), '.nii.gz'),
    dice: (c['1'] as { Dice: number }).Dice,
    reference_voxels: (c['1'] as { 'Total Positives Reference': number })['Total Positives Reference'],
    predicted_voxels: (c['1'] as { 'Total Positives Test': number })['Total Positives Test'],
  }));
  const meanDice = perCase.reduce((s, r) => s + r.dice, 0) / perCase.length;
  for (const r of perCase) console.log(`${r.case}  Dice ${r.dice.toFixed(4)}  (${r.reference_voxels} reference voxels, ${r.predicted_voxels} predicted)`);

  console.log('\n== 6/6 report');
  const reportFile = path.join(workDir, 'report.html');
  const passed = meanDice >= TARGET_DICE;
  const total = seconds(t0);
  timings.push(['total', total]);
  const sections = await reportSections({ task, plans, training, perCase, meanDice, dir, predictions, timings, epochs, iterationsPerEpoch, workDir });
  const written = await writeReport(reportFile, sections, {
    title: 'nnunet-ts quick start: nnU-Net on a synthetic lung CT task',
    subtitle: `${CONFIGURATION}, ${epochs} epochs x ${iterationsPerEpoch} iterations on ${profile.numTraining} cases; mean Dice on ${perCase.length} held-out cases ${meanDice.toFixed(4)}; ${total} on this machine`,
  });
  console.log(`report: ${written.file} (${(written.bytes / 1e6).toFixed(1)} MB, self-contained: open it in any browser)`);
  console.log(
    `\nquick start ${passed ? 'done' : 'FAILED'}: mean Dice ${meanDice.toFixed(4)} on ${perCase.length} held-out cases ` +
      `(target >= ${TARGET_DICE}: ${passed ? 'reached' : 'NOT reached'}) in ${total}; report ${written.file}`,
  );
  return passed ? 0 : 1;
}

interface ReportInputs {
  task: Task;
  plans: Awaited<ReturnType<Task['plan']>>;
  training: Awaited<ReturnType<ReturnType<Awaited<ReturnType<Task['plan']>>['fold']>['train']>>;
  perCase: { case: string; dice: number; reference_voxels: number; predicted_voxels: number }[];
  meanDice: number;
  dir: string;
  predictions: string;
  timings: [string, string][];
  epochs: number;
  iterationsPerEpoch: number;
  workDir: string;
}

async function reportSections(r: ReportInputs): Promise<ReportSection[]> {
  const c = r.plans.configuration(CONFIGURATION);
  const slices: ReportSection['blocks'] = [];
  for (const row of r.perCase) {
    const image = await readNifti(path.join(r.dir, 'imagesTs', `${row.case}_0000.nii.gz`)).catch(() => readNifti(path.join(r.dir, 'imagesTs', `${row.case}.nii.gz`)));
    const label = await readNifti(path.join(r.dir, 'labelsTs', `${row.case}.nii.gz`));
    const prediction = await readNifti(path.join(r.predictions, `${row.case}.nii.gz`));
    slices.push({
      kind: 'figure',
      figure: sliceViewer(image, {
        label,
        prediction,
        title: `${row.case}: Dice ${row.dice.toFixed(3)}`,
        classNames: ['tumour'],
        window: [-1000, 200],
        maxSlicePixels: 112 * 112,
        maxFrames: 24,
        maxValues: 250_000,
        width: 560,
        height: 520,
      }),
      caption: `${row.case}: ground truth filled, prediction as contour; the slider moves through the slices (z).`,
    });
  }
  const artifacts = [
    ['raw task (MSD layout)', r.dir],
    ['fingerprint, plans, preprocessed data', r.task.paths.preprocessed],
    ['trained model (fold_all)', r.training.outputDir],
    ['predictions (NIfTI) + summary.json', r.predictions],
  ].map(([what, where]) => ({ artifact: what, path: path.relative(process.cwd(), where) || '.' }));
  return [
    {
      heading: 'Result',
      blocks: [
        {
          kind: 'text',
          text:
            `Mean Dice of the tumour label on ${r.perCase.length} held-out cases: ${r.meanDice.toFixed(4)} (target of the quick start: >= ${TARGET_DICE}). ` +
            `The model never saw these cases: they are the task's test cases (imagesTs), scored against their ground truth (labelsTs) with nnU-Net's evaluator.\n\n` +
            `The task is synthetic: CT-like volumes (air, a body of soft tissue 0..60 HU, two lungs at about -850 HU) with 1 to 3 spherical ` +
            `contrast-enhancing tumours (90..130 HU) inside the lungs, generated deterministically by data-scripts/synthetic_lung.ts (quickstart profile). ` +
            `The schedule is a short CPU one (${r.epochs} epochs x ${r.iterationsPerEpoch} iterations instead of nnU-Net's 1000 x 250), ` +
            `so this shows every step working, not nnU-Net's final accuracy.`,
        },
        { kind: 'table', table: r.perCase.map((p) => ({ ...p, dice: Number(p.dice.toFixed(4)) })) },
        { kind: 'figure', figure: barChart({ name: 'Dice', x: r.perCase.map((p) => p.case), y: r.perCase.map((p) => p.dice) }, { title: 'Dice per held-out case', yTitle: 'Dice', height: 320 }) },
      ],
    },
    {
      heading: 'Plans',
      blocks: [
        {
          kind: 'text',
          text:
            `nnUNetPlansv2.1 from the dataset fingerprint, re-planned for ${CPU_GPU_MEMORY_GB} GB of "GPU" memory so that a CPU can train it ` +
            `(on an 8 GB GPU the same planner picks larger patches). Trained configuration: ${CONFIGURATION}, patch ${c.patch_size.join(' x ')}, ` +
            `batch ${c.batch_size}, spacing ${c.spacing.map((s) => s.toFixed(3)).join(' x ')} mm (z, y, x).`,
        },
        { kind: 'table', table: r.plans.table() },
      ],
    },
    {
      heading: 'Training',
      blocks: [
        {
          kind: 'figure',
          figure: trainingCurves(r.training.log as never, { title: `${CONFIGURATION}, fold 'all': losses, pseudo Dice and learning rate` }),
          caption:
            "Pseudo Dice: nnU-Net's online estimate, from the validation iterations' patches (fold 'all' samples them from the training cases). " +
            'Losses are Dice + cross-entropy with deep supervision (negative: the soft Dice term dominates).',
        },
      ],
    },
    { heading: 'Held-out cases: prediction over ground truth', blocks: slices },
    {
      heading: 'Run',
      blocks: [
        { kind: 'table', table: r.timings.map(([s, t]) => ({ step: s, time: t })) },
        { kind: 'table', table: artifacts },
        {
          kind: 'text',
          text:
            'Rerun: npm start (reuses the generated cases, fingerprint, plans and preprocessed data; trains again). The full demonstration (2d, 3d_fullres, 3d_lowres, cascade, ensembles, ' +
            'model selection): npm start -- --all. Longer training: npm start -- --epochs 30 --iterations 25.',
        },
      ],
    },
  ];
}

