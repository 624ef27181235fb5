/**
 * Plans: the plans.json document (nnU-Net v2 schema, 2.2-era configuration fields + v1 topology) with accessors
 * for notebooks, overrides, and atomic save/load. Types live in plans_types.ts (re-exported here).
 */
import { describeNetwork, type NetworkSummaryRow } from '../network/architecture';
import * as aq from 'arquero';
import type { IntensityProperties, NormalizationScheme, PlansConfiguration, PlansConfigurationEntry, PlansJSON, ResamplingKwargs } from './plans_types';
import { prod } from '../util/numpy_compat';

export * from './plans_types';

/** v1 scheme names -> v2 class names (same arithmetic). */
export const V1_TO_V2_NORMALIZATION: Record<string, NormalizationScheme> = {
  CT: 'CTNormalization',
  nonCT: 'ZScoreNormalization',
  noNorm: 'NoNormalization',
};

/** v2 default resampling (nnunetv2 ExperimentPlanner.determine_resampling); v1 resample_patient uses the same orders. */
export function defaultResampling(): Pick<
  PlansConfiguration,
  | 'resampling_fn_data'
  | 'resampling_fn_seg'
  | 'resampling_fn_data_kwargs'
  | 'resampling_fn_seg_kwargs'
  | 'resampling_fn_probabilities'
  | 'resampling_fn_probabilities_kwargs'
> {
  const k = (is_seg: boolean, order: number): ResamplingKwargs => ({ is_seg, order, order_z: 0, force_separate_z: null });
  return {
    resampling_fn_data: 'resample_data_or_seg_to_shape',
    resampling_fn_seg: 'resample_data_or_seg_to_shape',
    resampling_fn_data_kwargs: k(false, 3),
    resampling_fn_seg_kwargs: k(true, 1),
    resampling_fn_probabilities: 'resample_data_or_seg_to_shape',
    resampling_fn_probabilities_kwargs: k(false, 1),
  };
}

/** Every field a configuration may carry (for override validation). */
export const CONFIGURATION_FIELDS: readonly (keyof PlansConfiguration)[] = [
  'data_identifier',
  'preprocessor_name',
  'batch_size',
  'patch_size',
  'median_image_size_in_voxels',
  'spacing',
  'normalization_schemes',
  'use_mask_for_norm',
  'resampling_fn_data',
  'resampling_fn_seg',
  'resampling_fn_data_kwargs',
  'resampling_fn_seg_kwargs',
  'resampling_fn_probabilities',
  'resampling_fn_probabilities_kwargs',
  'UNet_class_name',
  'UNet_base_num_features',
  'n_conv_per_stage_encoder',
  'n_conv_per_stage_decoder',
  'num_pool_per_axis',
  'pool_op_kernel_sizes',
  'conv_kernel_sizes',
  'unet_max_num_features',
  'batch_dice',
  'do_dummy_2D_data_aug',
  'inherits_from',
  'previous_stage',
  'next_stage',
];

const REQUIRED_FIELDS = CONFIGURATION_FIELDS.filter((f) => f !== 'inherits_from' && f !== 'previous_stage' && f !== 'next_stage');

/** Merge `inherits_from` chains (v2 semantics: the child's own keys win). */
export function resolveConfiguration(plans: PlansJSON, name: string): PlansConfiguration {
  const seen = new Set<string>();
  const chain: PlansConfigurationEntry[] = [];
  let cur: string | undefined = name;
  while (cur !== undefined) {
    if (seen.has(cur)) throw new Error(`plans ${plans.plans_name}: configuration inheritance cycle at '${cur}'`);
    seen.add(cur);
    const entry: PlansConfigurationEntry | undefined = plans.configurations[cur];
    if (!entry) {
      const known = Object.keys(plans.configurations).join(', ');
      throw new Error(`plans ${plans.plans_name}: unknown configuration '${cur}' (available: ${known})`);
    }
    chain.unshift(entry);
    cur = entry.inherits_from;
  }
  const merged: PlansConfigurationEntry = {};
  for (const e of chain) Object.assign(merged, structuredClone(e));
  delete merged.inherits_from;
  for (const f of REQUIRED_FIELDS) {
    if (merged[f] === undefined) throw new Error(`plans ${plans.plans_name}: configuration '${name}' lacks field '${f}'`);
  }
  return merged as PlansConfiguration;
}

function isPositiveInt(x: unknown): x is number {
  return typeof x === 'number' && Number.isInteger(x) && x > 0;
}

/** Check a resolved configuration for internal consistency; throws naming the configuration and field. */
export function validateConfiguration(name: string, c: PlansConfiguration): void {
  const where = `configuration '${name}'`;
  if (!isPositiveInt(c.batch_size)) throw new Error(`${where}: batch_size must be a positive integer, got ${JSON.stringify(c.batch_size)}`);
  const dim = c.patch_size?.length;
  if (!Array.isArray(c.patch_size) || (dim !== 2 && dim !== 3) || !c.patch_size.every(isPositiveInt)) {
    throw new Error(`${where}: patch_size must be 2 or 3 positive integers, got ${JSON.stringify(c.patch_size)}`);
  }
  if (!Array.isArray(c.spacing) || c.spacing.length !== dim || !c.spacing.every((s) => typeof s === 'number' && s > 0)) {
    throw new Error(`${where}: spacing must be ${dim} positive numbers, got ${JSON.stringify(c.spacing)}`);
  }
  for (const k of c.pool_op_kernel_sizes) {
    if (k.length !== dim || !k.every(isPositiveInt)) throw new Error(`${where}: pool_op_kernel_sizes entry ${JSON.stringify(k)} must be ${dim} positive integers`);
  }
  if (c.conv_kernel_sizes.length !== c.pool_op_kernel_sizes.length + 1) {
    throw new Error(`${where}: conv_kernel_sizes needs ${c.pool_op_kernel_sizes.length + 1} entries (one per stage), got ${c.conv_kernel_sizes.length}`);
  }
  for (const k of c.conv_kernel_sizes) {
    if (k.length !== dim || !k.every(isPositiveInt)) throw new Error(`${where}: conv_kernel_sizes entry ${JSON.stringify(k)} must be ${dim} positive integers`);
  }
  const divisor = Array.from({ length: dim }, (_, i) => prod(c.pool_op_kernel_sizes.map((k) => k[i])));
  c.patch_size.forEach((p, i) => {
    if (p % divisor[i] !== 0) {
      throw new Error(
        `${where}: patch_size ${JSON.stringify(c.patch_size)} is not divisible by the pooling (${divisor.join('x')}) on axis ${i}`,
      );
    }
  });
  if (c.n_conv_per_stage_encoder.length !== c.conv_kernel_sizes.length || c.n_conv_per_stage_decoder.length !== c.conv_kernel_sizes.length - 1) {
    throw new Error(`${where}: n_conv_per_stage_encoder/decoder must have ${c.conv_kernel_sizes.length}/${c.conv_kernel_sizes.length - 1} entries`);
  }
  if (!isPositiveInt(c.UNet_base_num_features) || !isPositiveInt(c.unet_max_num_features)) {
    throw new Error(`${where}: UNet_base_num_features and unet_max_num_features must be positive integers`);
  }
  if (c.normalization_schemes.length !== c.use_mask_for_norm.length) {
    throw new Error(`${where}: normalization_schemes and use_mask_for_norm need one entry per channel`);
  }
}

export type ConfigurationOverrides = Record<string, Partial<PlansConfiguration>>;

/** Apply overrides to a plans document (returns a new one); validates names, fields and the result. */
export function applyOverrides(plans: PlansJSON, overrides: ConfigurationOverrides): PlansJSON {
  const out: PlansJSON = structuredClone(plans);
  for (const [name, fields] of Object.entries(overrides)) {
    const entry = out.configurations[name];
    if (!entry) {
      throw new Error(`override: unknown configuration '${name}' (available: ${Object.keys(out.configurations).join(', ')})`);
    }
    for (const [k, v] of Object.entries(fields ?? {})) {
      if (!(CONFIGURATION_FIELDS as readonly string[]).includes(k)) {
        throw new Error(`override: unknown field '${k}' for configuration '${name}'`);
      }
      (entry as Record<string, unknown>)[k] = structuredClone(v);
    }
  }
  // validate every configuration (children inherit overridden parents)
  for (const name of Object.keys(out.configurations)) validateConfiguration(name, resolveConfiguration(out, name));
  return out;
}

/** Minimal network summary from the plans (the exact parameter count lives in sdk/network). */
export interface NetworkSummary {
  configuration: string;
  UNet_class_name: string;
  dim: number;
  num_stages: number;
  features_per_stage: number[];
  conv_kernel_sizes: number[][];
  /** per stage, the stride of its first conv / pooling (stage 0: all 1) */
  strides: number[][];
  n_conv_per_stage_encoder: number[];
  n_conv_per_stage_decoder: number[];
  /** feature map size at each stage for one patch */
  feature_map_sizes: number[][];
  /** Exact Generic U-Net parameter count (sdk/network), when the number of classes is known. */
  parameterCount?: number;
  /** Per-stage rows (stage, resolution, features, kernel, stride, parameters, feature-map memory), idem. */
  rows?: NetworkSummaryRow[];
  /** The rows as a text table, idem. */
  table?: string;
}

import type { PlotlyFigure } from '../viz/figure';
export type { PlotlyFigure };

export class Plans {
  readonly json: PlansJSON;

  constructor(json: PlansJSON) {
    this.json = structuredClone(json);
  }

  get plansName(): string {
    return this.json.plans_name;
  }

  get configurationNames(): string[] {
    return Object.keys(this.json.configurations);
  }

  get transposeForward(): number[] {
    return [...this.json.transpose_forward];
  }

  get transposeBackward(): number[] {
    return [...this.json.transpose_backward];
  }

  get foregroundIntensityProperties(): Record<string, IntensityProperties> {
    return structuredClone(this.json.foreground_intensity_properties_per_channel);
  }

  /** The resolved configuration (inheritance merged). */
  configuration(name: string): PlansConfiguration {
    return resolveConfiguration(this.json, name);
  }

  hasConfiguration(name: string): boolean {
    return name in this.json.configurations;
  }

  /** New plans with overrides applied, e.g. `plans.override({'3d_fullres': {batch_size: 4}})`. */
  override(overrides: ConfigurationOverrides): Plans {
    return new Plans(applyOverrides(this.json, overrides));
  }

  toJSON(): PlansJSON {
    return structuredClone(this.json);
  }

  /** One row per configuration. */
  table(): aq.ColumnTable {
    const names = this.configurationNames;
    const cs = names.map((n) => this.configuration(n));
    const fmt = (v: number[]) => v.map((x) => (Number.isInteger(x) ? String(x) : x.toFixed(4))).join(' x ');
    return aq.table({
      configuration: names,
      patch_size: cs.map((c) => fmt(c.patch_size)),
      batch_size: cs.map((c) => c.batch_size),
      spacing: cs.map((c) => fmt(c.spacing)),
      median_image_size: cs.map((c) => fmt(c.median_image_size_in_voxels)),
      num_pool_per_axis: cs.map((c) => c.num_pool_per_axis.join(',')),
      num_stages: cs.map((c) => c.conv_kernel_sizes.length),
      normalization: cs.map((c) => c.normalization_schemes.join(',')),
      batch_dice: cs.map((c) => c.batch_dice),
      data_identifier: cs.map((c) => c.data_identifier),
    });
  }

  /**
   * Stage-by-stage network summary of a configuration. With `numClasses` (background included; Plans obtained
   * through a Task fill it in) it adds the exact parameter count and the per-stage table of sdk/network.
   */
  network(name: string, opts: { numClasses?: number; numInputChannels?: number } = {}): NetworkSummary {
    const c = this.configuration(name);
    const dim = c.patch_size.length;
    const numStages = c.conv_kernel_sizes.length;
    const features: number[] = [];
    for (let s = 0; s < numStages; s++) features.push(Math.min(c.UNet_base_num_features * 2 ** s, c.unet_max_num_features));
    const strides = [new Array<number>(dim).fill(1), ...c.pool_op_kernel_sizes.map((k) => [...k])];
    const sizes: number[][] = [];
    let cur = [...c.patch_size];
    for (const st of strides) {
      cur = cur.map((x, i) => Math.floor(x / st[i]));
      sizes.push([...cur]);
    }
    return {
      configuration: name,
      UNet_class_name: c.UNet_class_name,
      dim,
      num_stages: numStages,
      features_per_stage: features,
      conv_kernel_sizes: c.conv_kernel_sizes.map((k) => [...k]),
      strides,
      n_conv_per_stage_encoder: [...c.n_conv_per_stage_encoder],
      n_conv_per_stage_decoder: [...c.n_conv_per_stage_decoder],
      feature_map_sizes: sizes,
      ...(opts.numClasses !== undefined ? this.describeNetwork(name, opts.numClasses, opts.numInputChannels) : {}),
    };
  }

  private describeNetwork(name: string, numClasses: number, numInputChannels?: number): Pick<NetworkSummary, 'parameterCount' | 'rows' | 'table'> {
    const c = this.configuration(name);
    let channels = numInputChannels ?? Object.keys(this.json.foreground_intensity_properties_per_channel).length;
    // the cascade's full-resolution network also sees the previous stage's one-hot foreground (nnU-Net v1)
    if (numInputChannels === undefined && c.previous_stage) channels += numClasses - 1;
    const d = describeNetwork(c, { numInputChannels: channels, numClasses });
    return { parameterCount: d.parameterCount, rows: d.rows, table: d.table };
  }

  /** Plotly specs: patch vs median shape, poolings per axis, feature maps per stage. */
  plot(): PlotlyFigure[] {
    const names = this.configurationNames;
    const cs = names.map((n) => this.configuration(n));
    const axisName = (dim: number, i: number) => (dim === 3 ? ['axis 0', 'axis 1', 'axis 2'][i] : ['axis 1', 'axis 2'][i]);
    const patch: PlotlyFigure = {
      data: cs.flatMap((c, k) => [
        { type: 'bar', name: `${names[k]} patch`, x: c.patch_size.map((_, i) => `${names[k]} ${axisName(c.patch_size.length, i)}`), y: c.patch_size },
        {
          type: 'bar',
          name: `${names[k]} median`,
          x: c.median_image_size_in_voxels.map((_, i) => `${names[k]} ${axisName(c.patch_size.length, i)}`),
          y: c.median_image_size_in_voxels,
        },
      ]),
      layout: { title: { text: `${this.json.plans_name}: patch size vs median image size (voxels)` }, barmode: 'group' },
    };
    const pools: PlotlyFigure = {
      data: cs.map((c, k) => ({
        type: 'bar',
        name: names[k],
        x: c.num_pool_per_axis.map((_, i) => axisName(c.num_pool_per_axis.length, i)),
        y: c.num_pool_per_axis,
      })),
      layout: { title: { text: 'poolings per axis' }, barmode: 'group', yaxis: { title: { text: 'number of poolings' } } },
    };
    const feats: PlotlyFigure = {
      data: names.map((n) => {
        const s = this.network(n);
        return { type: 'scatter', mode: 'lines+markers', name: n, x: s.features_per_stage.map((_, i) => i), y: s.features_per_stage };
      }),
      layout: { title: { text: 'feature maps per stage' }, xaxis: { title: { text: 'stage' } }, yaxis: { title: { text: 'features' } } },
    };
    return [patch, pools, feats];
  }
}

export function checkPlansJSON(j: unknown, file: string): PlansJSON {
  const p = j as PlansJSON;
  if (!p || typeof p !== 'object' || typeof p.configurations !== 'object' || !Array.isArray(p.transpose_forward)) {
    throw new Error(`${file}: not a plans.json document (needs configurations and transpose_forward)`);
  }
  for (const name of Object.keys(p.configurations)) {
    try {
      validateConfiguration(name, resolveConfiguration(p, name));
    } catch (e) {
      throw new Error(`${file}: ${(e as Error).message}`);
    }
  }
  return p;
}
