/**
 * nnU-Net v2 model folders (issue 22) on the committed fixtures test/fixtures/v2_models (made by
 * bench/python/make_v2_fixture.py with Debian's torch 1.13 and dynamic_network_architectures' classes, saved as
 * nnUNetTrainer.save_checkpoint does): PlainConvUNet and ResidualEncoderUNet built from the plans' `architecture`,
 * strict state_dict mapping and its refusals, and v2 sliding-window prediction (averaged float16 logits, softmax
 * after averaging) against PyTorch's on the same preprocessed input.
 */
import { after, before, describe, test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { initBackend } from '../../sdk/network/backend';
import { readNpy } from '../../sdk/io/npy';
import { readTorchCheckpoint, TorchTensor } from '../../sdk/io/torch_checkpoint';
import { buildDynamicArchitecture } from '../../sdk/network/dynamic_unet';
import { softmaxChannelsFirst, mirrorCombinationsV2 } from '../../sdk/inference/sliding_window_v2';
import { plainConvUNetStateDictKeys } from '../../sdk/model/export_v2';
import { Model } from '../../sdk/model/model';
import { loadV2Model, predictPreprocessedV2, readV2Checkpoint, v2NetworkSpec, valuesFromV2StateDict, V2Model, V2PlansJSON } from '../../sdk/model/v2';

const FIX = process.env.NNUNET_V2_FIXTURE ?? path.resolve(__dirname, '../fixtures/v2_models');
const DS = path.join(FIX, 'Dataset004_Hippocampus');
const MODELS = {
  plain: { dir: path.join(DS, 'nnUNetTrainer__nnUNetPlans__2d'), cases: ['hippocampus_001', 'hippocampus_003', 'hippocampus_004'], foreground: true },
  // ResidualEncoderUNet (blocks 1,2,2,2): predicts both labels on both cases (see the fixture README)
  resenc: { dir: path.join(DS, 'nnUNetTrainer__nnUNetResEncUNetMPlans__2d'), cases: ['hippocampus_001', 'hippocampus_003'], foreground: true },
};

function f16ulp(v: number): number {
  const a = Math.abs(v);
  if (a < 2 ** -14) return 2 ** -24;
  return 2 ** (Math.floor(Math.log2(a)) - 10);
}

describe('nnU-Net v2 plans and checkpoints', () => {
  test('mirror combinations follow itertools.combinations', () => {
    assert.deepEqual(mirrorCombinationsV2([0, 1]), [[0], [1], [0, 1]]);
    assert.deepEqual(mirrorCombinationsV2([0, 1, 2]), [[0], [1], [2], [0, 1], [0, 2], [1, 2], [0, 1, 2]]);
  });

  for (const [tag, m] of Object.entries(MODELS)) {
    test(`${tag}: checkpoint_final.pth has the v2 trainer's keys and every state_dict key maps to the plans' network`, () => {
      const ck = readTorchCheckpoint(path.join(m.dir, 'fold_0/checkpoint_final.pth')).value as Record<string, unknown>;
      for (const k of ['network_weights', 'optimizer_state', 'grad_scaler_state', 'logging', '_best_ema', 'current_epoch', 'init_args', 'trainer_name', 'inference_allowed_mirroring_axes']) {
        assert.ok(k in ck, `missing ${k}`);
      }
      assert.equal(ck.trainer_name, 'nnUNetTrainer');
      assert.deepEqual(ck.inference_allowed_mirroring_axes, [0, 1]);
      assert.equal((ck.init_args as Record<string, unknown>).device, 'cpu');
      const v2 = readV2Checkpoint(path.join(m.dir, 'fold_0/checkpoint_final.pth'));
      const plans = JSON.parse(fs.readFileSync(path.join(m.dir, 'plans.json'), 'utf8')) as V2PlansJSON;
      const arch = buildDynamicArchitecture(v2NetworkSpec(plans.configurations['2d'], 1, 3, 'plans.json'));
      assert.equal(arch.kind, tag === 'plain' ? 'PlainConvUNet' : 'ResidualEncoderUNet');
      // PyTorch lists aliases too (decoder.encoder.*, all_modules.N): more keys than canonical tensors
      assert.ok(v2.stateDict.size > arch.params.length);
      const values = valuesFromV2StateDict(v2.stateDict, arch, 'ck');
      assert.equal(values.size, arch.params.length);
    });
  }

  test("the exporter's state_dict key list is PyTorch's own (order and aliases) for the fixture's PlainConvUNet", () => {
    const v2 = readV2Checkpoint(path.join(MODELS.plain.dir, 'fold_0/checkpoint_final.pth'));
    const plans = JSON.parse(fs.readFileSync(path.join(MODELS.plain.dir, 'plans.json'), 'utf8')) as V2PlansJSON;
    const arch = buildDynamicArchitecture(v2NetworkSpec(plans.configurations['2d'], 1, 3, 'plans.json'));
    assert.deepEqual(plainConvUNetStateDictKeys(arch).map(([k]) => k), [...v2.stateDict.keys()]);
  });

  test('refusals name the file and the tensor: missing, mis-shaped, unexpected; unsupported classes', () => {
    const m = MODELS.plain;
    const file = path.join(m.dir, 'fold_0/checkpoint_final.pth');
    const v2 = readV2Checkpoint(file);
    const plans = JSON.parse(fs.readFileSync(path.join(m.dir, 'plans.json'), 'utf8')) as V2PlansJSON;
    const arch = buildDynamicArchitecture(v2NetworkSpec(plans.configurations['2d'], 1, 3, 'plans.json'));
    const missing = new Map(v2.stateDict);
    missing.delete('decoder.seg_layers.2.bias');
    assert.throws(() => valuesFromV2StateDict(missing, arch, file), /checkpoint_final\.pth: network_weights has no tensor 'decoder\.seg_layers\.2\.bias'/);
    const bad = new Map(v2.stateDict);
    const t = bad.get('encoder.stages.1.0.convs.0.conv.weight')!;
    bad.set('encoder.stages.1.0.convs.0.conv.weight', new TorchTensor(t.dtype, [t.shape[0], t.shape[1] + 1, ...t.shape.slice(2)], [], 0, t.data));
    assert.throws(() => valuesFromV2StateDict(bad, arch, file), /tensor 'encoder\.stages\.1\.0\.convs\.0\.conv\.weight' has shape/);
    const extra = new Map(v2.stateDict);
    extra.set('decoder.extra.weight', t);
    assert.throws(() => valuesFromV2StateDict(extra, arch, file), /tensor 'decoder\.extra\.weight' that the PlainConvUNet/);
    // plans that do not match the weights (one stage fewer features)
    const cfg = JSON.parse(JSON.stringify(plans.configurations['2d']));
    cfg.architecture.arch_kwargs.features_per_stage[3] = 48;
    const arch2 = buildDynamicArchitecture(v2NetworkSpec(cfg, 1, 3, 'plans.json'));
    assert.throws(() => valuesFromV2StateDict(v2.stateDict, arch2, file), /has shape .* needs/);
    cfg.architecture.network_class_name = 'dynamic_network_architectures.architectures.unet.ResidualUNet';
    assert.throws(() => v2NetworkSpec(cfg, 1, 3, 'plans.json'), /plans\.json: network class '.*ResidualUNet' is not supported/);
  });

  test('older v2 plans without `architecture` (UNet_class_name, n_conv_per_stage_*) build the same PlainConvUNet', () => {
    const plans = JSON.parse(fs.readFileSync(path.join(MODELS.plain.dir, 'plans.json'), 'utf8')) as V2PlansJSON;
    const cfg = plans.configurations['2d'];
    const k = cfg.architecture!.arch_kwargs;
    const old = {
      ...cfg,
      architecture: undefined,
      UNet_class_name: 'PlainConvUNet',
      UNet_base_num_features: 8,
      unet_max_num_features: 64,
      n_conv_per_stage_encoder: k.n_conv_per_stage as number[],
      n_conv_per_stage_decoder: k.n_conv_per_stage_decoder as number[],
      pool_op_kernel_sizes: k.strides as number[][],
      conv_kernel_sizes: k.kernel_sizes as number[][],
    };
    assert.deepEqual(buildDynamicArchitecture(v2NetworkSpec(old, 1, 3, 'p')).params, buildDynamicArchitecture(v2NetworkSpec(cfg, 1, 3, 'p')).params);
  });

  test('Model.load on a v2 folder loads it as a v2 model (raw-image prediction: v2_raw_predict.test.ts)', async () => {
    const m = await Model.load(MODELS.plain.dir);
    try {
      assert.equal(m.format, 'nnunet-v2');
      assert.equal(m.configuration, '2d');
    } finally {
      m.dispose();
    }
  });

  test('a model folder with a broken checkpoint is refused naming the file', () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'v2bad-'));
    try {
      const d = path.join(tmp, 'nnUNetTrainer__nnUNetPlans__2d');
      fs.mkdirSync(path.join(d, 'fold_0'), { recursive: true });
      for (const f of ['plans.json', 'dataset.json']) fs.copyFileSync(path.join(MODELS.plain.dir, f), path.join(d, f));
      const bytes = fs.readFileSync(path.join(MODELS.plain.dir, 'fold_0/checkpoint_final.pth'));
      fs.writeFileSync(path.join(d, 'fold_0/checkpoint_final.pth'), bytes.subarray(0, bytes.length >> 1));
      assert.throws(() => loadV2Model(d), /fold_0\/checkpoint_final\.pth: corrupt or truncated zip/);
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });
});

describe('nnU-Net v2 prediction equals PyTorch on the same preprocessed input', () => {
  before(async () => {
    process.env.NNUNET_PROGRESS = '0';
    await initBackend({ backend: process.env.NNUNET_BACKEND ? undefined : 'auto', log: false });
  });

  for (const [tag, m] of Object.entries(MODELS)) {
    describe(tag, () => {
      let model: V2Model;
      before(() => {
        model = loadV2Model(m.dir);
      });
      after(() => model?.networks.forEach((n) => n.dispose()));

      test('one float32 forward pass on a 56x40 tile equals PyTorch to 1e-4 (torch.load + load_state_dict)', async () => {
        const tf = await import('@tensorflow/tfjs');
        const x = readNpy(path.join(FIX, 'cases', 'tile_input.npy'));
        const ref = readNpy(path.join(FIX, 'cases', `tile_${tag}_logits.npy`)).data as Float32Array;
        const out = tf.tidy(() => tf.transpose(model.networks[0].predict(tf.transpose(tf.tensor(x.data as Float32Array, x.shape), [0, 2, 3, 1])), [0, 3, 1, 2]));
        const ours = (await out.data()) as Float32Array;
        out.dispose();
        assert.equal(ours.length, ref.length);
        let max = 0;
        for (let i = 0; i < ref.length; i++) max = Math.max(max, Math.abs(ours[i] - ref[i]));
        console.log(`# v2 ${tag} tile forward: max |logit diff| ${max.toExponential(2)} (logits up to ${Math.max(...Array.from(ref, Math.abs)).toFixed(2)})`);
        assert.ok(max <= 1e-4, `forward differs by ${max}`);
      });

      for (const c of m.cases) {
        test(`${c}: logits (float16) equal up to float16 rounding steps, softmax to 1e-4, segmentation >= 99.99 %`, async () => {
          const input = readNpy(path.join(FIX, 'cases', `${c}_input.npy`));
          const ref = readNpy(path.join(FIX, 'cases', `${c}_${tag}_logits.npy`));
          const refSeg = readNpy(path.join(FIX, 'cases', `${c}_${tag}_seg.npy`));
          const r = await predictPreprocessedV2(model, input.data as Float32Array, input.shape);
          assert.deepEqual(r.shape, ref.shape);
          const refLogits = Float32Array.from(ref.data as ArrayLike<number>);
          const refProbs = softmaxChannelsFirst(refLogits, 3);
          let maxUlps = 0;
          let maxAbs = 0;
          let exact = 0;
          let maxP = 0;
          let over = 0;
          for (let i = 0; i < refLogits.length; i++) {
            const d = Math.abs(r.logits[i] - refLogits[i]);
            if (d === 0) exact++;
            maxAbs = Math.max(maxAbs, d);
            // float32 noise upstream of the float16 rounding: at most one ulp of the voxel's larger-magnitude logit
            const big = Math.max(...[0, 1, 2].map((k) => Math.abs(refLogits[(i % (refLogits.length / 3)) + (k * refLogits.length) / 3])));
            maxUlps = Math.max(maxUlps, d / f16ulp(big));
            const dp = Math.abs(r.probabilities[i] - refProbs[i]);
            maxP = Math.max(maxP, dp);
            if (dp > 1e-4) over++;
          }
          let same = 0;
          const seg = refSeg.data as Uint8Array;
          for (let i = 0; i < seg.length; i++) if (seg[i] === r.segmentation[i]) same++;
          const fg = seg.reduce((a, b) => a + (b > 0 ? 1 : 0), 0);
          console.log(
            `# v2 ${tag} ${c}: logits exact ${((100 * exact) / refLogits.length).toFixed(3)}%, max |diff| ${maxAbs.toExponential(2)} (${maxUlps.toFixed(2)} f16 ulp of the voxel's largest logit); ` +
              `softmax max |diff| ${maxP.toExponential(2)}, ${over} of ${refLogits.length} values > 1e-4; ` +
              `segmentation ${((100 * same) / seg.length).toFixed(4)}% identical (${fg} foreground voxels)`,
          );
          if (m.foreground) assert.ok(fg > 0, 'the fixture predicts some foreground');
          let lo = Infinity;
          let hi = -Infinity;
          for (let i = 0; i < refLogits.length / 3; i++) {
            const margin = refLogits[i] - Math.max(refLogits[i + refLogits.length / 3], refLogits[i + (2 * refLogits.length) / 3]);
            lo = Math.min(lo, margin);
            hi = Math.max(hi, margin);
          }
          assert.ok(hi - lo > 1, `background margin varies only over [${lo}, ${hi}]`);
          assert.ok(maxUlps <= 4, `logits differ by ${maxUlps} float16 ulps`);
          // the float16 aggregation turns float32 noise into an occasional one-ulp logit step: softmax within 1e-4
          // on >= 99.9 % of values, and never more than a few ulp of float16 probability
          assert.ok(over / refLogits.length <= 1e-3, `${over} softmax values differ by more than 1e-4`);
          assert.ok(maxP <= 1e-3, `softmax differs by ${maxP}`);
          assert.ok(same / seg.length >= 0.9999, `segmentation agreement ${same / seg.length}`);
        });
      }
    });
  }
});
