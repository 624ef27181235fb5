import { test } from 'node:test';
import assert from 'node:assert/strict';
import { figureProblems, unetDiagram } from '../../sdk/viz';
import { dsWeights } from '../../sdk/viz/unet_diagram';
import { deepSupervisionWeights } from '../../sdk/training/dice_ce_loss';
import { planExperiment } from '../../sdk/planning';

const net = {
  configuration: '3d_fullres',
  num_stages: 3,
  features_per_stage: [32, 64, 128],
  conv_kernel_sizes: [[1, 3, 3], [3, 3, 3], [3, 3, 3]],
  strides: [[1, 1, 1], [1, 2, 2], [2, 2, 2]],
  feature_map_sizes: [[16, 64, 64], [16, 32, 32], [8, 16, 16]],
  parameterCount: 12345,
};

test('unetDiagram: a box per encoder and decoder stage, skips, heads with v1 loss weights', () => {
  const f = unetDiagram(net, { numClasses: 3 });
  assert.deepEqual(figureProblems(f), []);
  const shapes = f.layout.shapes as { type: string }[];
  // 3 encoder (incl. bottleneck) + 2 decoder boxes + 2 heads
  assert.equal(shapes.length, 7);
  const texts = (f.layout.annotations as { text: string }[]).map((a) => a.text).join('\n');
  for (const s of ['16×64×64', '8×16×16', '128 features', 'k 1×3×3', 's 2×2×2', 'skip (concatenate)', '→ 3 classes', 'loss weight 1.000', 'loss weight 0.000']) {
    assert.ok(texts.includes(s), `diagram names ${s}`);
  }
  assert.match(String((f.layout.title as { text: string }).text), /3d_fullres: 3 stages, 12,345 parameters/);
  const noDs = unetDiagram(net, { deepSupervision: false });
  assert.equal((noDs.layout.shapes as unknown[]).length, 6);
  assert.throws(() => unetDiagram({ ...net, strides: [[1, 1, 1]] }), /strides has 1 entries for 3 stages/);
});

test('dsWeights equals training deepSupervisionWeights', () => {
  for (const n of [1, 2, 4, 6]) assert.deepEqual(dsWeights(n), deepSupervisionWeights(n));
});

test('unetDiagram draws every configuration of real plans', () => {
  const ids = Array.from({ length: 20 }, (_, i) => `c${i}`);
  const plans = planExperiment({
    dataset_name: 'T',
    spacings: ids.map(() => [1.245, 0.785, 0.785]),
    shapes_after_crop: ids.map(() => [252, 512, 512]),
    case_identifiers: ids,
    modalities: { '0': 'CT' },
    all_classes: [1],
    foreground_intensity_properties_per_channel: { '0': { mean: -150, std: 300, median: -100, min: -1024, max: 3000, percentile_00_5: -1000, percentile_99_5: 500 } },
    size_reductions: Object.fromEntries(ids.map((id) => [id, 1])),
  } as never);
  for (const c of plans.configurationNames) {
    const s = plans.network(c, { numClasses: 2 });
    const f = unetDiagram(s, { numClasses: 2 });
    assert.deepEqual(figureProblems(f), [], c);
    const texts = (f.layout.annotations as { text: string }[]).map((a) => a.text).join('\n');
    assert.ok(texts.includes(s.feature_map_sizes[0].join('×')), `${c} shows its patch`);
  }
});
