/**
 * Generic U-Net: parameter counts against the official numbers, structure, initialisation, weights format,
 * micro-batched gradients, and tensor-leak checks, on wasm and cpu.
 */
import { describe, it, before } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../sdk/network/backend';
import { buildArchitecture, describeNetwork, UNetPlansConfiguration } from '../../sdk/network/architecture';
import { GenericUNet } from '../../sdk/network/generic_unet';
import { loadNetwork, loadWeightsInto, saveWeights } from '../../sdk/network/weights';

const FIX = path.resolve(__dirname, '../../../shared/fixtures/official');

/** v1 plans JSON stage 0 -> the plans fields the network reads. */
function hippocampusConfig(kind: '3d' | '2d'): UNetPlansConfiguration {
  const plans = JSON.parse(fs.readFileSync(path.join(FIX, `hippocampus_v1_plans_${kind}.json`), 'utf8'));
  const st = plans.plans_per_stage['0'];
  return {
    pool_op_kernel_sizes: st.pool_op_kernel_sizes,
    conv_kernel_sizes: st.conv_kernel_sizes,
    UNet_base_num_features: plans.base_num_features,
    patch_size: st.patch_size,
    batch_size: st.batch_size,
  };
}

// MSD Lung plans (nnunet-reference.md §3.10): 3d_fullres pools [[2,2,2]x4,[1,2,2]], 6 conv kernels 3x3x3; 2d 7 pools.
const LUNG_3D: UNetPlansConfiguration = {
  pool_op_kernel_sizes: [[2, 2, 2], [2, 2, 2], [2, 2, 2], [2, 2, 2], [1, 2, 2]],
  conv_kernel_sizes: Array.from({ length: 6 }, () => [3, 3, 3]),
  UNet_base_num_features: 32,
  patch_size: [80, 192, 160],
  batch_size: 2,
};
const LUNG_2D: UNetPlansConfiguration = {
  pool_op_kernel_sizes: Array.from({ length: 7 }, () => [2, 2]),
  conv_kernel_sizes: Array.from({ length: 8 }, () => [3, 3]),
  UNet_base_num_features: 32,
  patch_size: [512, 512],
  batch_size: 12,
};

/**
 * Expected counts from the architecture rules by hand: a block conv(ci->co, k^d) has ci*co*k^d weights + co bias +
 * 2co instance-norm affine; features 32, 64, 128 and bottleneck 256 (below both caps); decoder level with skip fs
 * and input fd: transposed conv fd*fs*2^d (no bias), conv(2fs->fs), conv(fs->fs), 1x1 head fs*3 (3 classes, no bias).
 */
function hippocampusExpected(rf: number, up: number): number {
  const conv = (ci: number, co: number) => ci * co * rf + co + 2 * co;
  const enc = conv(1, 32) + conv(32, 32) + conv(32, 64) + conv(64, 64) + conv(64, 128) + conv(128, 128);
  const bottleneck = conv(128, 256) + conv(256, 256);
  const dec = [[256, 128], [128, 64], [64, 32]].reduce(
    (s, [fd, fs]) => s + fd * fs * up + conv(2 * fs, fs) + conv(fs, fs) + fs * 3,
    0,
  );
  return enc + bottleneck + dec;
}

describe('Generic U-Net architecture (no tensors)', () => {
  it('parameter counts equal the official ones (nnunet-reference.md A.7)', () => {
    assert.equal(describeNetwork(LUNG_3D, { numInputChannels: 1, numClasses: 2 }).parameterCount, 30_785_184);
    // cascade full-res: image + (numClasses - 1) one-hot channels of the low-res segmentation = 2 input channels
    assert.equal(describeNetwork(LUNG_3D, { numInputChannels: 2, numClasses: 2 }).parameterCount, 30_786_048);
    assert.equal(describeNetwork(LUNG_2D, { numInputChannels: 1, numClasses: 2 }).parameterCount, 41_262_432);
  });

  it('hippocampus 3d_fullres and 2d from the official v1 plans: counts by formula (5,602,944 and 1,928,256)', () => {
    assert.equal(hippocampusExpected(27, 8), 5_602_944);
    assert.equal(hippocampusExpected(9, 4), 1_928_256);
    const d3 = describeNetwork(hippocampusConfig('3d'), { numInputChannels: 1, numClasses: 3 });
    const d2 = describeNetwork(hippocampusConfig('2d'), { numInputChannels: 1, numClasses: 3 });
    assert.equal(d3.parameterCount, hippocampusExpected(27, 8));
    assert.equal(d2.parameterCount, hippocampusExpected(9, 4));
    // summary rows sum to the total; deep-supervision outputs highest resolution first
    assert.equal(d3.rows.reduce((s, r) => s + r.parameters, 0), d3.parameterCount);
    assert.deepEqual(d3.outputShapes, [[7, 40, 56, 40, 3], [7, 20, 28, 20, 3], [7, 10, 14, 10, 3]]);
    assert.deepEqual(d2.outputShapes, [[281, 56, 40, 3], [281, 28, 20, 3], [281, 14, 10, 3]]);
    assert.deepEqual(
      d3.rows.map((r) => [r.stage, r.resolution, r.features, r.stride]),
      [
        ['encoder 0', '40x56x40', 32, '1x1x1'],
        ['encoder 1', '20x28x20', 64, '2x2x2'],
        ['encoder 2', '10x14x10', 128, '2x2x2'],
        ['bottleneck', '5x7x5', 256, '2x2x2'],
        ['decoder 0', '10x14x10', 128, '1x1x1'],
        ['decoder 1', '20x28x20', 64, '1x1x1'],
        ['decoder 2', '40x56x40', 32, '1x1x1'],
      ],
    );
    assert.match(d3.table, /total parameters: 5602944/);
  });

  it('feature caps 320 (3D) / 480 (2D), strided first convs, decoder kernels of the next-deeper stage', () => {
    const a3 = buildArchitecture(LUNG_3D, { numInputChannels: 1, numClasses: 2 });
    assert.deepEqual(a3.stages.filter((s) => s.kind !== 'decoder').map((s) => s.blocks[0].outChannels), [32, 64, 128, 256, 320, 320]);
    assert.deepEqual(a3.stages[5].blocks[0].stride, [1, 2, 2]); // bottleneck strided by the last pool
    const a2 = buildArchitecture(LUNG_2D, { numInputChannels: 1, numClasses: 2 });
    assert.deepEqual(a2.stages.filter((s) => s.kind !== 'decoder').map((s) => s.blocks[0].outChannels), [32, 64, 128, 256, 480, 480, 480, 480]);
    // anisotropic kernels: decoder level u uses conv_kernel_sizes[n - u] (quirk B.7)
    const cfg: UNetPlansConfiguration = {
      pool_op_kernel_sizes: [[1, 2, 2], [2, 2, 2]],
      conv_kernel_sizes: [[1, 3, 3], [3, 3, 3], [3, 3, 3]],
      UNet_base_num_features: 32,
      patch_size: [8, 16, 16],
      batch_size: 2,
    };
    const a = buildArchitecture(cfg, { numInputChannels: 1, numClasses: 2 });
    const dec = a.stages.filter((s) => s.kind === 'decoder');
    assert.deepEqual(dec.map((s) => s.blocks[0].kernel), [[3, 3, 3], [3, 3, 3]]);
    assert.deepEqual(a.stages[0].blocks[0].kernel, [1, 3, 3]);
    assert.deepEqual(a.stages[0].blocks[0].pad, [0, 1, 1]);
    assert.deepEqual(dec.map((s) => s.upsample!.kernel), [[2, 2, 2], [1, 2, 2]]);
  });

  it('rejects bad configurations with a clear message', () => {
    assert.throws(
      () => buildArchitecture({ ...LUNG_3D, conv_kernel_sizes: LUNG_3D.conv_kernel_sizes.slice(1) }, { numInputChannels: 1, numClasses: 2 }),
      /conv_kernel_sizes needs 6 entries/,
    );
    assert.throws(() => buildArchitecture(LUNG_3D, { numInputChannels: 1, numClasses: 1 }), /numClasses/);
  });
});

const TINY_3D: UNetPlansConfiguration = {
  pool_op_kernel_sizes: [[1, 2, 2], [2, 2, 2]],
  conv_kernel_sizes: [[1, 3, 3], [3, 3, 3], [3, 3, 3]],
  UNet_base_num_features: 4,
  patch_size: [4, 8, 8],
  batch_size: 3,
};
const TINY_2D: UNetPlansConfiguration = {
  pool_op_kernel_sizes: [[2, 2], [2, 2]],
  conv_kernel_sizes: [[3, 3], [3, 3], [3, 3]],
  UNet_base_num_features: 4,
  patch_size: [8, 8],
  batch_size: 3,
};

/** Placeholder DC + CE over all deep-supervision outputs (targets: argmax-free, strided one-hot labels). */
function dcCe(outputs: tf.Tensor[], target: tf.Tensor): tf.Scalar {
  return tf.tidy(() => {
    let total = tf.scalar(0);
    outputs.forEach((o, k) => {
      const strides = [1, ...o.shape.slice(1, -1).map((s, i) => target.shape[i + 1]! / s), 1];
      const t = tf.stridedSlice(target, new Array(target.rank).fill(0), target.shape, strides);
      const logp = tf.logSoftmax(o);
      const ce = tf.neg(tf.mean(tf.sum(tf.mul(t, logp), -1)));
      const p = tf.exp(logp);
      const axes = Array.from({ length: o.rank - 1 }, (_, i) => i);
      const dice = tf.mean(tf.div(tf.mul(2, tf.sum(tf.mul(p, t), axes)), tf.add(tf.add(tf.sum(p, axes), tf.sum(t, axes)), 1e-5)));
      total = tf.add(total, tf.mul(1 / 2 ** k, tf.sub(ce, dice)));
    });
    return total as tf.Scalar;
  });
}

for (const backend of ['wasm', 'cpu'] as const) {
  describe(`Generic U-Net on ${backend}`, () => {
    before(async () => {
      await initBackend({ backend, log: false });
    });

    it('forward returns deep-supervision logits highest resolution first; predict equals output 0', () => {
      for (const cfg of [TINY_3D, TINY_2D]) {
        const net = GenericUNet.fromPlans(cfg, { numInputChannels: 2, numClasses: 3, seed: 1 });
        const x = tf.randomNormal([2, ...cfg.patch_size, 2]);
        const outs = net.forward(x, { training: true });
        // two poolings ([1,2,2] then [2,2,2]) -> two decoder levels at scales 1 and (1,2,2)
        const expect3 = [[2, 4, 8, 8, 3], [2, 4, 4, 4, 3]];
        const expect2 = [[2, 8, 8, 3], [2, 4, 4, 3]];
        assert.deepEqual(outs.map((o) => o.shape), cfg === TINY_3D ? expect3 : expect2);
        const live = tf.memory().numTensors;
        const p = net.predict(x); // frees its activations as it goes: only the output is left
        assert.equal(tf.memory().numTensors, live + 1, 'predict leaves exactly one tensor');
        assert.ok(!x.isDisposed, 'predict keeps the caller-owned input');
        assert.deepEqual(Array.from(p.dataSync()), Array.from(outs[0].dataSync()));
        assert.throws(() => net.forward(tf.zeros([1, ...cfg.patch_size.map((s) => s + 1), 2])), /divisible/);
        tf.dispose([x, p, ...outs]);
        net.dispose();
      }
    });

    it('He initialisation (a = 0.01, fan_in; transposed conv fan_in = Co * prod(k)), zero biases, norm weight 1', () => {
      const net = GenericUNet.fromPlans(hippocampusConfig('3d'), { numInputChannels: 1, numClasses: 3, seed: 3 });
      const gain = Math.sqrt(2 / (1 + 0.01 ** 2));
      const std = (name: string) => {
        const v = net.variables.get(name)!.dataSync();
        let s = 0;
        for (const e of v) s += e * e;
        return Math.sqrt(s / v.length);
      };
      const near = (a: number, b: number) => assert.ok(Math.abs(a / b - 1) < 0.02, `${a} vs ${b}`);
      near(std('conv_blocks_context.3.1.blocks.0.conv.weight'), gain / Math.sqrt(256 * 27));
      near(std('tu.0.weight'), gain / Math.sqrt(128 * 8)); // [Ci=256, Co=128, 2,2,2] in PyTorch: fan_in = 128*8
      near(std('conv_blocks_localization.0.0.blocks.0.conv.weight'), gain / Math.sqrt(256 * 27));
      assert.ok(net.variables.get('conv_blocks_context.0.blocks.0.conv.bias')!.dataSync().every((e) => e === 0));
      assert.ok(net.variables.get('conv_blocks_context.0.blocks.0.instnorm.weight')!.dataSync().every((e) => e === 1));
      assert.equal(net.parameterCount, hippocampusExpected(27, 8));
      // the official batch of 7 does not fit one wasm tape (measured: 4 works, 7 aborts): default chunks must split it
      const mb = net.defaultMicroBatch([40, 56, 40], 7);
      assert.ok(mb >= 1 && mb <= 4, `default micro-batch ${mb}`);
      net.dispose();
    });

    it('weights save/load round trip; architecture mismatch is refused', async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nnunet-ts-weights-'));
      try {
        const net = GenericUNet.fromPlans(TINY_3D, { numInputChannels: 1, numClasses: 2, seed: 5 });
        const m = await saveWeights(net, path.join(dir, 'model'));
        assert.equal(m.format, 'nnunet-ts-weights');
        assert.equal(m.version, 1);
        assert.equal(fs.statSync(path.join(dir, 'model.bin')).size, net.parameterCount * 4);
        const x = tf.randomNormal([1, 4, 8, 8, 1]);
        const y0 = net.predict(x);
        const other = GenericUNet.fromPlans(TINY_3D, { numInputChannels: 1, numClasses: 2, seed: 6 });
        loadWeightsInto(other, path.join(dir, 'model'));
        const y1 = other.predict(x);
        const back = loadNetwork(path.join(dir, 'model.json'));
        const y2 = back.predict(x);
        assert.deepEqual(Array.from(y1.dataSync()), Array.from(y0.dataSync()));
        assert.deepEqual(Array.from(y2.dataSync()), Array.from(y0.dataSync()));
        const wrong = GenericUNet.fromPlans(TINY_3D, { numInputChannels: 1, numClasses: 3 });
        assert.throws(() => loadWeightsInto(wrong, path.join(dir, 'model')), /model\.json: architecture mismatch.*numClasses: file has 2, network has 3/);
        fs.writeFileSync(path.join(dir, 'model.bin'), new Uint8Array(10));
        assert.throws(() => loadNetwork(path.join(dir, 'model')), /model\.bin: truncated/);
        tf.dispose([x, y0, y1, y2]);
        [net, other, back, wrong].forEach((n) => n.dispose());
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });

    it('micro-batched gradients equal full-batch gradients (batch-coupled loss)', async () => {
      const net = GenericUNet.fromPlans(TINY_3D, { numInputChannels: 1, numClasses: 3, seed: 7 });
      const x = tf.randomNormal([3, 4, 8, 8, 1], 0, 1, 'float32', 1);
      const target = tf.oneHot(tf.randomUniform([3, 4, 8, 8], 0, 3, 'int32', 2), 3);
      const full = await net.computeGradients(x, (o) => dcCe(o, target));
      const micro = await net.computeGradients(x, (o) => dcCe(o, target), { microBatch: 2 });
      assert.ok(Math.abs(full.loss - micro.loss) < 1e-5);
      for (const [name, g] of full.grads) {
        const a = g.dataSync();
        const b = micro.grads.get(name)!.dataSync();
        let m = 0;
        let s = 0;
        for (let i = 0; i < a.length; i++) {
          m = Math.max(m, Math.abs(a[i] - b[i]));
          s = Math.max(s, Math.abs(a[i]));
        }
        assert.ok(m <= 1e-4 * Math.max(s, 1e-2), `${name}: ${m} (max ${s})`);
      }
      tf.dispose([x, target, ...full.grads.values(), ...micro.grads.values()]);
      net.dispose();
    });

    it('tf.memory().numTensors does not grow over training iterations (forward, loss, backward, SGD)', async () => {
      const net = GenericUNet.fromPlans(TINY_2D, { numInputChannels: 1, numClasses: 2, seed: 8 });
      const opt = tf.train.sgd(0.01);
      const x = tf.randomNormal([3, 8, 8, 1]);
      const target = tf.oneHot(tf.randomUniform([3, 8, 8], 0, 2, 'int32'), 2);
      const counts: number[] = [];
      for (let i = 0; i < 4; i++) {
        const { grads } = await net.computeGradients(x, (o) => dcCe(o, target), { microBatch: i % 2 ? 2 : 3 });
        opt.applyGradients([...grads].map(([n, g]) => ({ name: net.variables.get(n)!.name, tensor: g })));
        tf.dispose([...grads.values()]);
        counts.push(tf.memory().numTensors);
      }
      assert.equal(counts[3], counts[1], `tensor counts ${counts}`);
      assert.equal(counts[2], counts[1], `tensor counts ${counts}`);
      opt.dispose();
      tf.dispose([x, target]);
      net.dispose();
    });
  });
}
