/**
 * Child process of the kill test (trainer.test.ts): trains the tiny task's 3d_fullres fold with a checkpoint every
 * epoch into argv[2] until the parent kills it with SIGKILL.
 */
import { initBackend } from '../../sdk/network/backend';
import { trainFold } from '../../sdk/training/trainer';
import { tinyTask } from './trainer_fixture';

(async () => {
  process.env.NNUNET_PROGRESS = '0';
  await initBackend({ log: false });
  const task = await tinyTask();
  await trainFold({
    plans: task.plans,
    configuration: '3d_fullres',
    preprocessedDir: task.preprocessed['3d_fullres'],
    trainCases: task.train,
    valCases: task.val,
    outputDir: process.argv[2],
    fold: 0,
    epochs: 3,
    iterationsPerEpoch: 3,
    validationIterations: 2,
    numThreads: 0,
    checkpointEvery: 1,
    validate: false,
    progress: false,
    seed: 7,
  });
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
