# DDAE + LUT on the tiny CPU MAE (6 blocks, 64-d, 32 px): the tiny LUT config (two views,
# broader-context loss, EMA teacher averaging buffers) plus the tiny DDAE config's parts
# (distance-weighted pixel loss, light decoders on blocks 2 and 4). The choices are those of
# ddae-lut_vit-base-p16_8xb512-amp-coslr-400e_in1k.py. Tests and the benchmark tool's tests.
_base_ = '../lut/lut_vit-tiny-p4_1xb32-20e_demo.py'

model = dict(
    head=dict(loss=dict(type='DDAEPixelLoss', criterion='L2')),
    supervisions=dict(
        ddae=dict(
            type='DDAESupervision',
            decoder=dict(decoder_embed_dim=64, decoder_depth=1, decoder_num_heads=4))))
