/**
 * The embedded default dataset: a deterministic synthetic "lung tumour" CT task in MSD Task06 layout
 * (data-scripts/synthetic_lung.ts), exported so notebooks and `npm start` get it from the package.
 */
export {
  generateTask as generateSyntheticLungTask,
  generateCase as generateSyntheticLungCase,
  SYNTH_LUNG_PROFILES,
} from '../data-scripts/synthetic_lung';
