# DDAE on the tiny CPU MAE (6 blocks, 64-d, 32 px): distance-weighted pixel loss on the
# final decoder, and light decoders on blocks 2 and 4 regressing the EMA teacher's features
# with distance weights. Tests and the demo (the README's main job).
_base_ = '../mae/mae_vit-tiny-p4_1xb32-20e_demo.py'

model = dict(
    head=dict(loss=dict(type='DDAEPixelLoss', criterion='L2')),
    supervisions=dict(
        ddae=dict(
            type='DDAESupervision',
            decoder=dict(decoder_embed_dim=64, decoder_depth=1, decoder_num_heads=4))))
