/**
 * A tiny, easy synthetic task for the trainer tests, built through the real pipeline (NIfTI -> Dataset ->
 * fingerprint -> v2.1 plans -> preprocessing): 10 single-channel cases of ~22x26x22 voxels with a non-trivial ITK
 * geometry and a zero border (so cropping is exercised), label 1 a bright ball, label 2 a dark box. The plans are
 * overridden to a 3-stage U-Net with 4 base features on 16^3 (3d) / 32x32 -> 16x16 (2d) patches, so a training
 * iteration takes a fraction of a second. Built once per test process in a temp folder.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { writeNifti } from '../../sdk/io/nifti';
import { makeVolume, Shape3 } from '../../sdk/io/volume';
import { loadDataset, Dataset } from '../../sdk/io/dataset';
import { computeFingerprint } from '../../sdk/fingerprint/fingerprint';
import { planExperiment } from '../../sdk/planning/plan_experiment';
import { Plans, PlansJSON } from '../../sdk/planning/plans';
import { preprocessConfiguration } from '../../sdk/preprocessing/preprocessed_dataset';
import { RandomState } from '../../sdk/util/random';
import type { TrainFoldOptions } from '../../sdk/training/trainer';

export const SPACING: [number, number, number] = [1.5, 1, 1]; // (z, y, x)
export const ORIGIN: [number, number, number] = [-10.5, 20.25, 3];
// a rotation about z (ITK row-major 3x3), not the identity, so a geometry mix-up is visible
export const DIRECTION = [0, -1, 0, 1, 0, 0, 0, 0, 1];

export interface TinyTask {
  root: string;
  dataset: Dataset;
  plans: Plans;
  /** preprocessed folders by configuration name */
  preprocessed: Record<string, string>;
  caseIds: string[];
  train: string[];
  val: string[];
}

function makeCase(rs: RandomState, shape: Shape3): { img: Float32Array; seg: Uint8Array } {
  const [Z, Y, X] = shape;
  const img = new Float32Array(Z * Y * X);
  const seg = new Uint8Array(Z * Y * X);
  const c = [rs.randint(7, Z - 7), rs.randint(7, Y - 7), rs.randint(7, X - 7)];
  const r = 3 + rs.uniform(0, 1.5);
  const b0 = [rs.randint(3, Z - 8), rs.randint(3, Y - 8), rs.randint(3, X - 8)];
  for (let z = 0; z < Z; z++)
    for (let y = 0; y < Y; y++)
      for (let x = 0; x < X; x++) {
        const i = (z * Y + y) * X + x;
        // zero border of 2 voxels: the nonzero crop removes it
        if (z < 2 || y < 2 || x < 2 || z >= Z - 2 || y >= Y - 2 || x >= X - 2) continue;
        let v = 100 + rs.normal(0, 5);
        const inBox = z >= b0[0] && z < b0[0] + 5 && y >= b0[1] && y < b0[1] + 5 && x >= b0[2] && x < b0[2] + 5;
        const d2 = (z - c[0]) ** 2 + (y - c[1]) ** 2 + (x - c[2]) ** 2;
        if (d2 <= r * r) {
          seg[i] = 1;
          v += 80;
        } else if (inBox) {
          seg[i] = 2;
          v -= 60;
        }
        img[i] = v;
      }
  return { img, seg };
}

/** Overrides giving a 3-stage network (2 poolings) with 4 base features. */
export function tinyOverrides(): Record<string, Record<string, unknown>> {
  return {
    '3d_fullres': {
      patch_size: [16, 16, 16],
      batch_size: 2,
      num_pool_per_axis: [2, 2, 2],
      pool_op_kernel_sizes: [
        [2, 2, 2],
        [2, 2, 2],
      ],
      conv_kernel_sizes: [
        [3, 3, 3],
        [3, 3, 3],
        [3, 3, 3],
      ],
      n_conv_per_stage_encoder: [2, 2, 2],
      n_conv_per_stage_decoder: [2, 2],
      UNet_base_num_features: 4,
    },
    '2d': {
      patch_size: [16, 16],
      batch_size: 4,
      num_pool_per_axis: [2, 2],
      pool_op_kernel_sizes: [
        [2, 2],
        [2, 2],
      ],
      conv_kernel_sizes: [
        [3, 3],
        [3, 3],
        [3, 3],
      ],
      n_conv_per_stage_encoder: [2, 2, 2],
      n_conv_per_stage_decoder: [2, 2],
      UNet_base_num_features: 4,
    },
  };
}

let cached: Promise<TinyTask> | null = null;

/** Build (once per process) the tiny task with 3d_fullres, 2d and a hand-made 3d_lowres + 3d_cascade_fullres. */
export function tinyTask(): Promise<TinyTask> {
  if (!cached) cached = build();
  return cached;
}

async function build(): Promise<TinyTask> {
  process.env.NNUNET_PROGRESS = process.env.NNUNET_PROGRESS ?? '0';
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'nnunet-ts-trainer-'));
  const raw = path.join(root, 'Task99_Tiny');
  fs.mkdirSync(path.join(raw, 'imagesTr'), { recursive: true });
  fs.mkdirSync(path.join(raw, 'labelsTr'), { recursive: true });
  const rs = new RandomState(4242);
  const ids: string[] = [];
  for (let k = 1; k <= 10; k++) {
    const id = `tiny_${String(k).padStart(3, '0')}`;
    ids.push(id);
    const shape: Shape3 = [20 + rs.randint(0, 4), 24 + rs.randint(0, 4), 20 + rs.randint(0, 4)];
    const { img, seg } = makeCase(rs, shape);
    const geo = { spacing: SPACING, origin: ORIGIN, direction: DIRECTION as never };
    await writeNifti(path.join(raw, 'imagesTr', `${id}.nii.gz`), makeVolume(img, shape, geo), { dtype: 'float32' });
    await writeNifti(path.join(raw, 'labelsTr', `${id}.nii.gz`), makeVolume(seg, shape, geo), { dtype: 'uint8' });
  }
  fs.writeFileSync(
    path.join(raw, 'dataset.json'),
    JSON.stringify({
      name: 'Tiny',
      description: 'trainer test task',
      tensorImageSize: '3D',
      modality: { '0': 'MRI' },
      labels: { '0': 'background', '1': 'ball', '2': 'box' },
      numTraining: ids.length,
      numTest: 0,
      training: ids.map((id) => ({ image: `./imagesTr/${id}.nii.gz`, label: `./labelsTr/${id}.nii.gz` })),
      test: [],
    }),
  );
  const dataset = loadDataset(raw);
  const fp = await computeFingerprint(dataset, { threads: 1, v2Intensities: false });
  let plans = planExperiment(fp, { overrides: tinyOverrides() as never });
  // a low-resolution stage and the cascade (the planner does not create them for images this small)
  const j: PlansJSON = plans.toJSON();
  const full = plans.configuration('3d_fullres');
  j.configurations['3d_lowres'] = {
    ...structuredClone(full),
    data_identifier: 'tiny_lowres',
    spacing: full.spacing.map((s) => s * 2),
    patch_size: [8, 8, 8],
    num_pool_per_axis: [1, 1, 1],
    pool_op_kernel_sizes: [[2, 2, 2]],
    conv_kernel_sizes: [
      [3, 3, 3],
      [3, 3, 3],
    ],
    n_conv_per_stage_encoder: [2, 2],
    n_conv_per_stage_decoder: [2],
    batch_dice: false,
    next_stage: '3d_cascade_fullres',
  };
  j.configurations['3d_cascade_fullres'] = { inherits_from: '3d_fullres', previous_stage: '3d_lowres' };
  plans = new Plans(j);
  const pre = path.join(root, 'preprocessed');
  const preprocessed: Record<string, string> = {};
  for (const c of ['3d_fullres', '2d', '3d_lowres']) {
    const p = await preprocessConfiguration(dataset, plans, c, { threads: 1, outDir: pre, label: null });
    preprocessed[c] = p.dir;
  }
  return { root, dataset, plans, preprocessed, caseIds: ids, train: ids.slice(0, 8), val: ids.slice(8) };
}

/**
 * trainFold options on the tiny task: `configuration` into `<outRoot>/<outDir>`, fold 0, 3 iterations per epoch,
 * 2 validation iterations, no worker threads, no validation export, seed 7; `extra` overrides any of them.
 */
export function tinyTrainOptions(task: TinyTask, outRoot: string, configuration: string, outDir: string, extra: Partial<TrainFoldOptions> = {}): TrainFoldOptions {
  return {
    plans: task.plans,
    configuration,
    preprocessedDir: task.preprocessed[configuration === '3d_cascade_fullres' ? '3d_fullres' : configuration],
    trainCases: task.train,
    valCases: task.val,
    outputDir: path.join(outRoot, outDir),
    fold: 0,
    dataset: task.dataset,
    iterationsPerEpoch: 3,
    validationIterations: 2,
    numThreads: 0,
    progress: false,
    validate: false,
    seed: 7,
    ...extra,
  };
}
