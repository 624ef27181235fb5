/** Model selection (nnUNet_find_best_configuration): consolidated cross-validation, ensembles, the best choice. */
export * from './model_selection';
export * from './consolidate';
