/** nnUNetTrainerV2's constants (S1 nnUNetTrainerV2.__init__ / nnUNetTrainer.__init__ / network_trainer.py). */
export const V2_MAX_NUM_EPOCHS = 1000;
export const V2_ITERATIONS_PER_EPOCH = 250; // num_batches_per_epoch
export const V2_VALIDATION_ITERATIONS = 50; // num_val_batches_per_epoch
export const V2_INITIAL_LR = 0.01;
export const V2_GRAD_CLIP = 12; // clip_grad_norm_(..., 12)
export const V2_SAVE_EVERY = 50; // network_trainer.save_every
export const V2_OVERSAMPLE_FOREGROUND = 0.33; // nnUNetTrainer.oversample_foreground_percent
/** nnUNetTrainerV2.on_epoch_end: at this epoch, a metric of exactly 0 lowers momentum to 0.95 and re-initialises. */
export const V2_MOMENTUM_RESCUE_EPOCH = 100;
export const V2_MOMENTUM_RESCUE_VALUE = 0.95;

/** nnunet-ts: the base seed of a deterministic training when none is given. */
export const DEFAULT_TRAINING_SEED = 12345;
