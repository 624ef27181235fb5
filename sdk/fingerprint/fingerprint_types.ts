/**
 * dataset_fingerprint.json: nnU-Net v2's field names (spacings, shapes_after_crop,
 * median_relative_size_after_cropping, foreground_intensity_properties_per_channel) plus what the v1 planners need
 * (case identifiers, modalities, foreground classes, per-case size reductions, v1 `intensityproperties`), plus
 * per-case properties for inspection. All spatial vectors are (z, y, x).
 */
/** v2 `foreground_intensity_properties_per_channel` entry (v1 CT statistics are mapped onto these names). */
export interface IntensityProperties {
  max: number;
  mean: number;
  median: number;
  min: number;
  percentile_00_5: number;
  percentile_99_5: number;
  std: number;
}

/** v1 DatasetAnalyzer._compute_stats names (median, mean, sd, mn, mx, percentile_99_5, percentile_00_5). */
export interface V1IntensityStats {
  median: number;
  mean: number;
  sd: number;
  mn: number;
  mx: number;
  percentile_99_5: number;
  percentile_00_5: number;
}

export interface V1ChannelIntensityProperties extends V1IntensityStats {
  local_props: Record<string, V1IntensityStats>;
}

/** Per-case result of the cropping step (v1 ImageCropper properties), plus counts for inspection. */
export interface CaseFingerprint {
  case_identifier: string;
  original_size_of_raw_data: number[];
  original_spacing: number[];
  itk_origin: number[];
  itk_spacing: number[];
  itk_direction: number[];
  crop_bbox: number[][];
  size_after_cropping: number[];
  /** np.unique of the cropped label before `seg < -1 -> 0` (includes -1 where the nonzero mask is false) */
  classes: number[];
  size_reduction: number;
  /** voxels with label > 0 after cropping */
  num_foreground_voxels: number;
  /** per channel: v1 statistics of every 10th foreground voxel (C order) */
  intensity_stats: V1IntensityStats[];
}

export interface DatasetFingerprintJSON {
  /** schema marker of this project */
  fingerprint_version: 1;
  dataset_name: string;
  /** v2 fields */
  spacings: number[][];
  shapes_after_crop: number[][];
  median_relative_size_after_cropping: number;
  /**
   * v2 field name; values are v1's deterministic statistics (every 10th foreground voxel), for every channel.
   * (v2 itself samples 10^8/n voxels per case with replacement, RandomState(1234).)
   */
  foreground_intensity_properties_per_channel: Record<string, IntensityProperties>;
  /** v1 fields */
  case_identifiers: string[];
  modalities: Record<string, string>;
  /** foreground label values from dataset.json (v1 all_classes) */
  all_classes: number[];
  size_reductions: Record<string, number>;
  /** v1 `intensityproperties`: only when a modality is exactly 'CT' or 'ct', else null (as v1) */
  intensityproperties: Record<string, V1ChannelIntensityProperties> | null;
  cases: CaseFingerprint[];
}
