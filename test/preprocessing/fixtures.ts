/**
 * Shared helpers of the preprocessing tests: fixture paths, and PlansJSON (our v2-schema plans) built from the
 * official v1 plans pickles in the fixtures, so the tests exercise plans -> settings without running our planner.
 */
import * as path from 'path';
import { configurationFromV1Stage } from '../../sdk/planning/plan_experiment';
import type { V1Plans } from '../../sdk/planning/planner_v21';
import type { PlansJSON, IntensityProperties } from '../../sdk/planning/plans_types';

export const FIXTURES = path.resolve(__dirname, '../../../shared/fixtures/official');
export const DATA = path.resolve(__dirname, '../../../shared/data');
export const HIPPO_CASES = path.join(FIXTURES, 'hippocampus_cases');
export const SYNTH = path.join(FIXTURES, 'synthlung');
export const EXTRAS = path.join(SYNTH, 'extras');

// eslint-disable-next-line @typescript-eslint/no-var-requires
export const fixtureJson = <T = any>(rel: string): T => require(path.join(FIXTURES, rel)) as T; // eslint-disable-line @typescript-eslint/no-explicit-any

interface V1IntensityProps {
  mean: number;
  sd: number;
  median: number;
  mn: number;
  mx: number;
  percentile_00_5: number;
  percentile_99_5: number;
}

/** PlansJSON with '3d_fullres' (last stage of the 3D pickle) and '2d' from the official v1 plans fixtures. */
export function plansFromV1(p3: V1Plans, p2: V1Plans, intensity: Record<string, V1IntensityProps> | null, name: string): PlansJSON {
  const st3 = Object.keys(p3.plans_per_stage).sort();
  const last = st3[st3.length - 1];
  const fip: Record<string, IntensityProperties> = {};
  for (const [k, v] of Object.entries(intensity ?? {})) {
    fip[k] = { mean: v.mean, std: v.sd, median: v.median, min: v.mn, max: v.mx, percentile_00_5: v.percentile_00_5, percentile_99_5: v.percentile_99_5 };
  }
  return {
    dataset_name: name,
    plans_name: 'nnUNetPlansv2.1',
    original_median_spacing_after_transp: [...p3.plans_per_stage[last].current_spacing],
    original_median_shape_after_transp: [...p3.plans_per_stage[last].median_patient_size_in_voxels],
    image_reader_writer: 'SimpleITKIO',
    transpose_forward: [...p3.transpose_forward],
    transpose_backward: [...p3.transpose_backward],
    configurations: {
      '3d_fullres': configurationFromV1Stage(p3, p3.plans_per_stage[last], { is2d: false, dataIdentifier: `${p3.data_identifier}_stage${last}`, batchDice: false }),
      '2d': configurationFromV1Stage(p2, p2.plans_per_stage['0'], { is2d: true, dataIdentifier: `${p2.data_identifier}_stage0`, batchDice: true }),
    },
    experiment_planner_used: 'ExperimentPlanner3D_v21',
    label_manager: 'LabelManager',
    foreground_intensity_properties_per_channel: fip,
  };
}

export function hippocampusPlans(): PlansJSON {
  return plansFromV1(fixtureJson('hippocampus_v1_plans_3d.json'), fixtureJson('hippocampus_v1_plans_2d.json'), null, 'Task004_Hippocampus');
}

export function synthLungPlans(): PlansJSON {
  const dp = fixtureJson('synthlung/v1/dataset_properties.json');
  return plansFromV1(
    fixtureJson('synthlung/v1/nnUNetPlansv2.1_plans_3D.json'),
    fixtureJson('synthlung/v1/nnUNetPlansv2.1_plans_2D.json'),
    dp.intensityproperties,
    'Task006_SynthLung',
  );
}
