# DeepMIM on the tiny CPU PixMIM: auxiliary decoders on blocks 3, 4 and 5 (64-d x 2 blocks
# x 4 heads), every decoder regressing the low-frequency norm-pix patches.
_base_ = '../pixmim/pixmim_vit-tiny-p4_1xb32-20e_demo.py'

model = dict(
    supervisions=dict(
        deepmim=dict(
            type='DeepMIMSupervision',
            decoder=dict(decoder_embed_dim=64, decoder_depth=2, decoder_num_heads=4))))
