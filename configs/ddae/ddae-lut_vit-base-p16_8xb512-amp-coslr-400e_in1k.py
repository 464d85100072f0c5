# DDAE + LUT on MAE, ViT-B/16, 400 epochs: LUT's recipe (two views, the broader-context loss
# with w_bc 0.25, the EMA teacher) plus DDAE's deep dynamic supervision (distance-weighted
# pixel loss on the final decoder, light decoders on blocks 4 and 8 regressing the teacher's
# features). Putting the two together is ours; see README, "LUT" and "DDAE".
#
# One step runs the student's masked pass once over both views and the teacher's unmasked
# pass once over both views; LUT reads both views of the teacher's output, DDAE the first
# (the MIM view), so the teacher's work is shared and not repeated.
#
# Our choices where the two recipes differ:
# - Teacher: LUT's, inherited: EMATeacher, momentum cosine 0.996 -> 1 per iteration (DDAE's
#   default is the same schedule), with average_buffers=True. DDAE's teacher holds only the
#   ViT, which has no floating-point buffers, so averaging changes nothing for DDAE; LUT's
#   released EMA averages the projector's BatchNorm statistics, and we keep that.
# - Data: LUT's two views. DDAE supervises view 1, which is SimpleResizedCrop + flip, not
#   MAE's RandomResizedCrop(0.2-1) (the LUT authors report RandomResizedCrop hurts LUT).
# - Schedule: LUT's 400 epochs (40 warm-up). DDAE's exponent follows training progress t,
#   so it stretches over any length.
# - Optimizer: LUT's, with no weight decay on any norm layer (DDAE's decoders' too).
_base_ = '../lut/lut_vit-base-p16_8xb512-amp-coslr-400e_in1k.py'

model = dict(
    head=dict(loss=dict(type='DDAEPixelLoss', criterion='L2')),
    supervisions=dict(ddae=dict(type='DDAESupervision')))
