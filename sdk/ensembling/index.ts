/** Ensembling: averaging saved probability maps of several configurations or models. */
export * from './ensemble';
