/**
 * The files of a trained model folder (`fold_<k>/`): our checkpoints (weights, optimiser state, trainer state) and
 * the training log, and loading a trained network from them. Training writes them; inference only reads them.
 */
export {
  CHECKPOINT_FORMAT,
  CHECKPOINT_VERSION,
  checkpointFile,
  saveCheckpoint,
  readCheckpoint,
  restoreCheckpoint,
  removeCheckpoint,
  checkIdentity,
  findResumeCheckpoint,
  checkpointArchitecture,
  loadTrainedNetwork,
} from './checkpoint';
export type {
  CheckpointName,
  CheckpointIdentity,
  TrainerState,
  CheckpointManifest,
  LoadedCheckpoint,
  CheckpointOptimizer,
  SGDState,
} from './checkpoint';
export { readTrainingLog, writeTrainingLog, parseTrainingLog, serializeTrainingLog } from './training_log';
export type { TrainingLogEntry } from './training_log';
