"""The two nnU-Net v2 default architectures of dynamic_network_architectures, copied (trimmed to what nnU-Net's
plans use: conv pooling, no dropout, no stochastic depth / squeeze-excitation, BasicBlockD only) so that the module
and parameter names, and therefore the state_dict keys, are the package's own.

Source: github.com/MIC-DKFZ/dynamic-network-architectures
  building_blocks/simple_conv_blocks.py   ConvDropoutNormReLU, StackedConvBlocks      (commit 39ac6ec5)
  building_blocks/residual.py             BasicBlockD, StackedResidualBlocks          (commit 39ac6ec5)
  building_blocks/residual_encoders.py    ResidualEncoder (stem + stages)             (commit 39ac6ec5)
  building_blocks/plain_conv_encoder.py   PlainConvEncoder                            (commit 040435ba)
  building_blocks/unet_decoder.py         UNetDecoder (keeps `self.encoder`: the state_dict holds the encoder's
                                          tensors twice, as encoder.* and decoder.encoder.*)  (commit 04fbfaf5)
  architectures/unet.py                   PlainConvUNet, ResidualEncoderUNet          (commit 24d174f9)
  initialization/weight_init.py           InitWeights_He(1e-2), init_last_bn_before_add_to_0
"""
import torch
from torch import nn


class ConvDropoutNormReLU(nn.Module):
    def __init__(self, conv_op, cin, cout, kernel, stride, conv_bias, norm_op, norm_kw, nonlin, nonlin_kw):
        super().__init__()
        ops = []
        self.conv = conv_op(cin, cout, kernel, stride, padding=[(i - 1) // 2 for i in kernel], dilation=1, bias=conv_bias)
        ops.append(self.conv)
        if norm_op is not None:
            self.norm = norm_op(cout, **norm_kw)
            ops.append(self.norm)
        if nonlin is not None:
            self.nonlin = nonlin(**nonlin_kw)
            ops.append(self.nonlin)
        self.all_modules = nn.Sequential(*ops)

    def forward(self, x):
        return self.all_modules(x)


class StackedConvBlocks(nn.Module):
    def __init__(self, num_convs, conv_op, cin, cout, kernel, initial_stride, conv_bias, norm_op, norm_kw, nonlin, nonlin_kw):
        super().__init__()
        ones = [1] * len(kernel)
        self.convs = nn.Sequential(
            ConvDropoutNormReLU(conv_op, cin, cout, kernel, initial_stride, conv_bias, norm_op, norm_kw, nonlin, nonlin_kw),
            *[ConvDropoutNormReLU(conv_op, cout, cout, kernel, ones, conv_bias, norm_op, norm_kw, nonlin, nonlin_kw) for _ in range(1, num_convs)],
        )

    def forward(self, x):
        return self.convs(x)


class BasicBlockD(nn.Module):
    def __init__(self, conv_op, cin, cout, kernel, stride, conv_bias, norm_op, norm_kw, nonlin, nonlin_kw):
        super().__init__()
        ones = [1] * len(kernel)
        self.conv1 = ConvDropoutNormReLU(conv_op, cin, cout, kernel, stride, conv_bias, norm_op, norm_kw, nonlin, nonlin_kw)
        self.conv2 = ConvDropoutNormReLU(conv_op, cout, cout, kernel, ones, conv_bias, norm_op, norm_kw, None, None)
        self.nonlin2 = nonlin(**nonlin_kw)
        has_stride = any(i != 1 for i in stride)
        if has_stride or cin != cout:
            ops = []
            if has_stride:
                pool = nn.AvgPool3d if conv_op is nn.Conv3d else nn.AvgPool2d
                ops.append(pool(stride, stride))
            if cin != cout:
                ops.append(ConvDropoutNormReLU(conv_op, cin, cout, ones, ones, False, norm_op, norm_kw, None, None))
            self.skip = nn.Sequential(*ops)
        else:
            self.skip = nn.Identity()

    def forward(self, x):
        residual = self.skip(x)
        out = self.conv2(self.conv1(x))
        out += residual
        return self.nonlin2(out)


class StackedResidualBlocks(nn.Module):
    def __init__(self, n_blocks, conv_op, cin, cout, kernel, initial_stride, conv_bias, norm_op, norm_kw, nonlin, nonlin_kw):
        super().__init__()
        ones = [1] * len(kernel)
        self.blocks = nn.Sequential(
            BasicBlockD(conv_op, cin, cout, kernel, initial_stride, conv_bias, norm_op, norm_kw, nonlin, nonlin_kw),
            *[BasicBlockD(conv_op, cout, cout, kernel, ones, conv_bias, norm_op, norm_kw, nonlin, nonlin_kw) for _ in range(1, n_blocks)],
        )

    def forward(self, x):
        return self.blocks(x)


class PlainConvEncoder(nn.Module):
    def __init__(self, cin, n_stages, features, conv_op, kernels, strides, n_conv, conv_bias, norm_op, norm_kw, nonlin, nonlin_kw):
        super().__init__()
        stages = []
        for s in range(n_stages):
            stages.append(nn.Sequential(StackedConvBlocks(n_conv[s], conv_op, cin, features[s], kernels[s], strides[s], conv_bias, norm_op, norm_kw, nonlin, nonlin_kw)))
            cin = features[s]
        self.stages = nn.Sequential(*stages)
        self.output_channels = features
        self.strides = strides
        self.conv_op, self.norm_op, self.norm_op_kwargs, self.nonlin, self.nonlin_kwargs = conv_op, norm_op, norm_kw, nonlin, nonlin_kw
        self.conv_bias = conv_bias
        self.kernel_sizes = kernels

    def forward(self, x):
        ret = []
        for s in self.stages:
            x = s(x)
            ret.append(x)
        return ret


class ResidualEncoder(nn.Module):
    def __init__(self, cin, n_stages, features, conv_op, kernels, strides, n_blocks, conv_bias, norm_op, norm_kw, nonlin, nonlin_kw):
        super().__init__()
        self.stem = StackedConvBlocks(1, conv_op, cin, features[0], kernels[0], [1] * len(kernels[0]), conv_bias, norm_op, norm_kw, nonlin, nonlin_kw)
        cin = features[0]
        stages = []
        for s in range(n_stages):
            stages.append(StackedResidualBlocks(n_blocks[s], conv_op, cin, features[s], kernels[s], strides[s], conv_bias, norm_op, norm_kw, nonlin, nonlin_kw))
            cin = features[s]
        self.stages = nn.Sequential(*stages)
        self.output_channels = features
        self.strides = strides
        self.conv_op, self.norm_op, self.norm_op_kwargs, self.nonlin, self.nonlin_kwargs = conv_op, norm_op, norm_kw, nonlin, nonlin_kw
        self.conv_bias = conv_bias
        self.kernel_sizes = kernels

    def forward(self, x):
        x = self.stem(x)
        ret = []
        for s in self.stages:
            x = s(x)
            ret.append(x)
        return ret


class UNetDecoder(nn.Module):
    def __init__(self, encoder, num_classes, n_conv_per_stage, deep_supervision):
        super().__init__()
        self.deep_supervision = deep_supervision
        self.encoder = encoder
        n = len(encoder.output_channels)
        transp = nn.ConvTranspose3d if encoder.conv_op is nn.Conv3d else nn.ConvTranspose2d
        stages, transpconvs, seg_layers = [], [], []
        for s in range(1, n):
            below = encoder.output_channels[-s]
            skip = encoder.output_channels[-(s + 1)]
            st = encoder.strides[-s]
            transpconvs.append(transp(below, skip, st, st, bias=encoder.conv_bias))
            stages.append(StackedConvBlocks(n_conv_per_stage[s - 1], encoder.conv_op, 2 * skip, skip, encoder.kernel_sizes[-(s + 1)], [1] * len(st),
                                            encoder.conv_bias, encoder.norm_op, encoder.norm_op_kwargs, encoder.nonlin, encoder.nonlin_kwargs))
            seg_layers.append(encoder.conv_op(skip, num_classes, 1, 1, 0, bias=True))
        self.stages = nn.ModuleList(stages)
        self.transpconvs = nn.ModuleList(transpconvs)
        self.seg_layers = nn.ModuleList(seg_layers)

    def forward(self, skips):
        lres = skips[-1]
        outs = []
        for s in range(len(self.stages)):
            x = self.transpconvs[s](lres)
            x = torch.cat((x, skips[-(s + 2)]), 1)
            x = self.stages[s](x)
            if self.deep_supervision:
                outs.append(self.seg_layers[s](x))
            elif s == len(self.stages) - 1:
                outs.append(self.seg_layers[-1](x))
            lres = x
        outs = outs[::-1]
        return outs if self.deep_supervision else outs[0]


def _ops(dim):
    conv = nn.Conv3d if dim == 3 else nn.Conv2d
    norm = nn.InstanceNorm3d if dim == 3 else nn.InstanceNorm2d
    return conv, norm


class PlainConvUNet(nn.Module):
    def __init__(self, input_channels, n_stages, features_per_stage, kernel_sizes, strides, n_conv_per_stage, num_classes,
                 n_conv_per_stage_decoder, dim, deep_supervision=False):
        super().__init__()
        conv, norm = _ops(dim)
        self.encoder = PlainConvEncoder(input_channels, n_stages, features_per_stage, conv, kernel_sizes, strides, n_conv_per_stage, True,
                                        norm, {'eps': 1e-5, 'affine': True}, nn.LeakyReLU, {'inplace': True})
        self.decoder = UNetDecoder(self.encoder, num_classes, n_conv_per_stage_decoder, deep_supervision)

    def forward(self, x):
        return self.decoder(self.encoder(x))


class ResidualEncoderUNet(nn.Module):
    def __init__(self, input_channels, n_stages, features_per_stage, kernel_sizes, strides, n_blocks_per_stage, num_classes,
                 n_conv_per_stage_decoder, dim, deep_supervision=False):
        super().__init__()
        conv, norm = _ops(dim)
        self.encoder = ResidualEncoder(input_channels, n_stages, features_per_stage, conv, kernel_sizes, strides, n_blocks_per_stage, True,
                                       norm, {'eps': 1e-5, 'affine': True}, nn.LeakyReLU, {'inplace': True})
        self.decoder = UNetDecoder(self.encoder, num_classes, n_conv_per_stage_decoder, deep_supervision)

    def forward(self, x):
        return self.decoder(self.encoder(x))


def init_he(module):
    """InitWeights_He(1e-2) (+ init_last_bn_before_add_to_0 for BasicBlockD: conv2's norm weight 0)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Conv3d, nn.ConvTranspose2d, nn.ConvTranspose3d)):
            nn.init.kaiming_normal_(m.weight, a=1e-2)
            if m.bias is not None:
                nn.init.constant_(m.bias, 0)
    for m in module.modules():
        if isinstance(m, BasicBlockD):
            nn.init.constant_(m.conv2.norm.weight, 0)
            nn.init.constant_(m.conv2.norm.bias, 0)
