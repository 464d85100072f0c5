# DDAE on the tiny CPU PixMIM: the final decoder's low-frequency pixel loss weighted by
# distance, light decoders on blocks 2 and 4 regressing the EMA teacher's features.
_base_ = '../pixmim/pixmim_vit-tiny-p4_1xb32-20e_demo.py'

model = dict(
    head=dict(loss=dict(type='DDAEPixelLoss', criterion='L2')),
    supervisions=dict(
        ddae=dict(
            type='DDAESupervision',
            decoder=dict(decoder_embed_dim=64, decoder_depth=1, decoder_num_heads=4))))
