/** Raw-data I/O in one import: NIfTI-1 files, MSD/v1 and v2 datasets, the integrity check. */
export * from './nifti';
export * from './dataset';
export * from './integrity';
