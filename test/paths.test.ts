import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'path';
import {
  configurationFolder,
  configurationFolderName,
  foldFolder,
  predNextStageFolder,
  preprocessedFolder,
  resolveRoots,
  trainerNameFor,
  trainedFoldFolder,
  validationFolder,
} from '../sdk/paths';
import { resolveTaskPaths } from '../sdk/task';

test('roots: option, then environment variable, then <work>/nnUNet_<root>; work from NNUNET_WORK or ./nnunet_work', () => {
  assert.deepEqual(resolveRoots({}, {}), {
    work: path.resolve('nnunet_work'),
    raw: path.resolve('nnunet_work/nnUNet_raw'),
    preprocessed: path.resolve('nnunet_work/nnUNet_preprocessed'),
    results: path.resolve('nnunet_work/nnUNet_results'),
  });
  const env = { NNUNET_WORK: '/w', nnUNet_results: '/r' };
  assert.deepEqual(resolveRoots({}, env), { work: '/w', raw: '/w/nnUNet_raw', preprocessed: '/w/nnUNet_preprocessed', results: '/r' });
  assert.equal(resolveRoots({ resultsRoot: '/given', workDir: '/x' }, env).results, '/given');
  assert.equal(resolveRoots({ workDir: '/x' }, env).preprocessed, '/x/nnUNet_preprocessed');
});

test('results layout: nnU-Net v1 folder names, and every module that builds them agrees', () => {
  assert.equal(configurationFolderName('3d_fullres'), 'nnUNetTrainerV2__nnUNetPlansv2.1__3d_fullres');
  assert.equal(configurationFolderName('3d_cascade_fullres', { plans: 'P' }), 'nnUNetTrainerV2CascadeFullRes__P__3d_cascade_fullres');
  assert.equal(trainerNameFor('2d'), 'nnUNetTrainerV2');
  const cf = configurationFolder('/res', 'Task06_Lung', '2d', { plans: 'nnUNetPlansv2.1' });
  assert.equal(cf, '/res/Task06_Lung/nnUNetTrainerV2__nnUNetPlansv2.1__2d');
  assert.equal(foldFolder(cf, 'all'), `${cf}/fold_all`);
  assert.equal(validationFolder(foldFolder(cf, 0)), `${cf}/fold_0/validation_raw`);
  assert.equal(trainedFoldFolder('/res', 'Task06_Lung', 'nnUNetPlansv2.1', '2d', 3), `${cf}/fold_3`);
  assert.equal(
    trainedFoldFolder('/res', 'T', 'P', '3d_cascade_fullres', 0),
    '/res/T/nnUNetTrainerV2CascadeFullRes__P__3d_cascade_fullres/fold_0',
  );
  assert.equal(predNextStageFolder('/res', 'T', 'P'), '/res/T/nnUNetTrainerV2__P__3d_lowres/pred_next_stage');
  assert.equal(predNextStageFolder('/res', 'T', 'P'), predNextStageFolder('/res', 'T', 'P'));
  assert.equal(preprocessedFolder('/pre', 'T', 'nnUNetData_plans_v2.1_stage0'), '/pre/T/nnUNetData_plans_v2.1_stage0');
  const tp = resolveTaskPaths('/raw/Task06_Lung', { workDir: '/w' });
  assert.equal(tp.preprocessed, '/w/nnUNet_preprocessed/Task06_Lung');
  assert.equal(tp.results, '/w/nnUNet_results/Task06_Lung');
});
