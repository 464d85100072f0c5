# DeepMIM on the tiny CPU MAE (6 blocks, 64-d): auxiliary decoders on blocks 3, 4 and 5,
# each shaped like the tiny final decoder (64-d x 2 blocks x 4 heads). Tests and the demo.
_base_ = '../mae/mae_vit-tiny-p4_1xb32-20e_demo.py'

model = dict(
    supervisions=dict(
        deepmim=dict(
            type='DeepMIMSupervision',
            decoder=dict(decoder_embed_dim=64, decoder_depth=2, decoder_num_heads=4))))
