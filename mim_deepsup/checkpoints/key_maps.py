"""Key names of the same ViT encoder in timm, mmpretrain and mmsegmentation.

Every map returns ``(weights, origin)``: the renamed tensors and, for each output key, the
input key(s) it came from, so that the converter can report what it renamed. Keys that a
map does not take are the caller's ``dropped``. Nothing here imports mmsegmentation.
"""
import re
from typing import Dict, Tuple

import torch

Weights = Dict[str, torch.Tensor]

# wrappers the authors' training scripts put around the encoder (DDP, EMA, LUT's encoder)
TIMM_WRAPPERS = ('module.', 'ema.', 'base_encoder.', 'encoder.', 'backbone.')
# timm ViT block parts -> mmpretrain/mmseg ViT layer parts (FFN is mmcv's FFN)
TIMM_BLOCK_PARTS = {
    'norm1': 'ln1', 'attn.qkv': 'attn.qkv', 'attn.proj': 'attn.proj', 'norm2': 'ln2',
    'mlp.fc1': 'ffn.layers.0.0', 'mlp.fc2': 'ffn.layers.1',
}
# encoder parts outside the blocks that an mmpretrain/mmseg ViT does not have: refused
# (a classifier's fc_norm / head, and everything outside the encoder, are just dropped)
TIMM_UNMAPPED = ('norm_pre.', 'reg_token', 'patch_embed.norm.', 'dist_token')
TIMM_TOP = {'cls_token': 'cls_token', 'pos_embed': 'pos_embed',
            'patch_embed.proj.weight': 'patch_embed.projection.weight',
            'patch_embed.proj.bias': 'patch_embed.projection.bias',
            'norm.weight': 'ln1.weight', 'norm.bias': 'ln1.bias'}
_BLOCK = re.compile(r'^blocks\.(\d+)\.(.+)\.(weight|bias)$')
_QV_BIAS = re.compile(r'^blocks\.(\d+)\.attn\.(q_bias|v_bias)$')


def strip_wrappers(state: Weights) -> Tuple[Weights, Dict[str, str]]:
    """Drop the leading wrapper prefixes (``module.``, ``ema.``, ...) from every key.

    Returns the renamed weights and each new key's original name. Two keys that strip to
    the same name (e.g. ``encoder.*`` and ``ema.*`` in one dict) are an error: which copy
    is the encoder cannot be told from the names.
    """
    out, original = {}, {}
    for key, value in state.items():
        name, changed = key, True
        while changed:
            changed = False
            for prefix in TIMM_WRAPPERS:
                if name.startswith(prefix):
                    name, changed = name[len(prefix):], True
        if name in out:
            raise ValueError(f'{original[name]} and {key} both name {name}: two copies of '
                             f'the encoder in one state dict')
        out[name], original[name] = value, key
    return out, original


def is_timm_layout(state: Weights) -> bool:
    """A timm ViT encoder: ``blocks.N.*`` and ``patch_embed.proj.*`` keys."""
    return any(_BLOCK.match(k) for k in state) and 'patch_embed.proj.weight' in state


def timm_to_mmpretrain(state: Weights) -> Tuple[Weights, Dict[str, str]]:
    """timm ViT names (MAE, DeepMIM and LUT releases) -> mmpretrain ``VisionTransformer``.

    Keys outside the encoder (decoder, mask token, LUT's projector ``head.*`` and
    ``predictor.*``, a classifier) are not taken. A block key this map does not know (e.g.
    timm's layer scale ``ls1.gamma``) raises rather than being silently left out. A
    BEiT-style split bias (``attn.q_bias``, ``attn.v_bias``, no k bias) becomes qkv's bias
    with a zero k part: softmax is invariant to a k bias, so this is exact.
    """
    weights, origin = {}, {}
    for key, value in state.items():
        if key in TIMM_TOP:
            weights[TIMM_TOP[key]], origin[TIMM_TOP[key]] = value, key
            continue
        if key.startswith(TIMM_UNMAPPED):
            raise ValueError(f'{key}: part of a timm ViT encoder this converter does not map '
                             f'(an mmpretrain/mmseg ViT has no such part)')
        match = _BLOCK.match(key)
        if match is None:
            if key.startswith('blocks.') and not _QV_BIAS.match(key):
                raise ValueError(f'{key}: a timm ViT block key this converter does not map '
                                 f'(known: {", ".join(TIMM_BLOCK_PARTS)}, attn.q_bias/v_bias)')
            continue
        index, part, kind = match.groups()
        if part not in TIMM_BLOCK_PARTS:
            raise ValueError(f'{key}: a timm ViT block key this converter does not map '
                             f'(known: {", ".join(TIMM_BLOCK_PARTS)}, attn.q_bias/v_bias)')
        new = f'layers.{index}.{TIMM_BLOCK_PARTS[part]}.{kind}'
        weights[new], origin[new] = value, key
    for index in sorted({int(m.group(1)) for m in map(_QV_BIAS.match, state) if m}):
        q, v = (state.get(f'blocks.{index}.attn.{part}') for part in ('q_bias', 'v_bias'))
        if q is None or v is None:
            raise ValueError(f'blocks.{index}.attn: q_bias and v_bias come in pairs; '
                             f'the checkpoint has only one of them')
        new = f'layers.{index}.attn.qkv.bias'
        weights[new] = torch.cat([q, torch.zeros_like(q), v])  # (3C,) = q | k = 0 | v
        origin[new] = f'blocks.{index}.attn.q_bias+blocks.{index}.attn.v_bias'
    if 'patch_embed.projection.weight' not in weights:
        raise ValueError('no timm ViT encoder (patch_embed.proj.weight) in the checkpoint')
    return weights, origin


def mmpretrain_to_mmseg(backbone: Weights) -> Tuple[Weights, Dict[str, str]]:
    """mmpretrain ViT encoder (MAEViT / VisionTransformer, or BEiT-v2's BEiTViT) ->
    mmsegmentation's ``MAE`` / ``BEiT`` backbone, which loads the file's ``state_dict`` as
    it is, without a prefix.

    Left out, by design of mmseg's UperNet backbones: the final norm ``ln1`` (UperNet takes
    raw block outputs, ``final_norm=False``), BEiT's ``mask_token``, and the relative
    position index buffers (mmseg computes them). BEiT-v2's shared relative position bias
    table is copied into each layer, as mmseg's BEiT keeps one table per layer.
    """
    layers = {int(k.split('.')[1]) for k in backbone if k.startswith('layers.')}
    if not layers:
        raise ValueError('no layers.N.* keys: not a ViT encoder')
    num_layers = 1 + max(layers)
    weights, origin = {}, {}
    for key, value in backbone.items():
        if (key.startswith(('ln1.', 'mask_token', 'rel_pos_bias.'))
                or key.endswith('relative_position_index')):
            continue
        weights[key], origin[key] = value, key
    shared = 'rel_pos_bias.relative_position_bias_table'
    if shared in backbone:
        for index in range(num_layers):
            new = f'layers.{index}.attn.relative_position_bias_table'
            weights[new], origin[new] = backbone[shared].clone(), shared
    return weights, origin


# timm's ViT names for the standard sizes: (embed_dim, depth, num_heads) -> (name, patch size)
TIMM_VIT_NAMES = {(192, 12, 3): ('vit_tiny_patch16_224', 16),
                  (384, 12, 6): ('vit_small_patch16_224', 16),
                  (768, 12, 12): ('vit_base_patch16_224', 16),
                  (1024, 24, 16): ('vit_large_patch16_224', 16),
                  (1280, 32, 16): ('vit_huge_patch14_224', 14)}
_LAYER = re.compile(r'^layers\.(\d+)\.(.+)\.(weight|bias)$')
_LAYER_PARAM = re.compile(r'^layers\.(\d+)\.(gamma_[12]|attn\.[qv]_bias|'
                          r'attn\.relative_position_bias_table)()$')
# what an mmpretrain encoder has and timm's VisionTransformer has not, by where it comes from
NOT_TIMM_VIT = {'stages.': "a Swin Transformer's stages", 'absolute_pos_embed': 'Swin'}
# BEiT's parts that timm's VisionTransformer has not (they map to timm's Beit)
BEIT_PARTS = ('gamma_1', 'gamma_2', 'q_bias', 'v_bias', 'relative_position_bias_table')


def mmpretrain_to_timm(backbone: Weights) -> Tuple[Weights, Dict[str, str]]:
    """mmpretrain ViT encoder (``VisionTransformer``, MAE's ``MAEViT`` and the tapped
    backbones built on them) -> timm ``VisionTransformer`` names, the inverse of
    :func:`timm_to_mmpretrain`.

    A BEiT encoder (layer scale, split q/v bias, relative position bias) becomes timm's
    ``Beit``, whose names are the same but for those parts, kept under theirs. Left out:
    the ``mask_token`` of MaskFeat and BEiT (timm's models have none; timm's ViT loader
    would take a ``mask_token`` key for a DINOv2 file) and the relative position index
    buffers (timm computes them). A key neither has a place for (a Swin's stages) raises,
    naming the key.
    """
    top = {mm: timm for timm, mm in TIMM_TOP.items()}
    block = {mm: timm for timm, mm in TIMM_BLOCK_PARTS.items()}
    block.update({part: part for part in ('gamma_1', 'gamma_2', 'attn.q_bias', 'attn.v_bias',
                                          'attn.relative_position_bias_table')})
    top['rel_pos_bias.relative_position_bias_table'] = 'rel_pos_bias.relative_position_bias_table'
    for key in backbone:  # first what tells another architecture, then single keys
        unmapped = next((why for part, why in NOT_TIMM_VIT.items() if part in key), None)
        if unmapped is not None:
            raise ValueError(f'{key}: {unmapped}, which timm\'s VisionTransformer does not '
                             f'have: this encoder has no timm ViT layout')
    weights, origin = {}, {}
    for key, value in backbone.items():
        if key == 'mask_token' or key.endswith('relative_position_index'):
            continue
        match = _LAYER.match(key) or _LAYER_PARAM.match(key)
        if key in top:
            new = top[key]
        elif match is not None and match.group(2) in block:
            index, part, kind = match.groups()
            new = f'blocks.{index}.{block[part]}' + (f'.{kind}' if kind else '')
        else:
            raise ValueError(f'{key}: an encoder key with no timm ViT name (known: '
                             f'{", ".join(top)}, layers.N.{{{", ".join(block)}}})')
        weights[new], origin[new] = value, key
    if 'patch_embed.proj.weight' not in weights:
        raise ValueError('no patch_embed.projection.weight: not a ViT encoder')
    if is_timm_beit(weights) and 'norm.weight' not in weights:
        # timm's Beit always has a final LayerNorm; an encoder pretrained without one
        # (BEiT-v2's) gets timm's pooled-feature norm at LayerNorm's initial values, as
        # mmpretrain's BEiT fine-tuning starts its own: forward_features is unchanged
        dim = weights['cls_token'].shape[-1]
        like = weights['cls_token']
        weights['fc_norm.weight'] = torch.ones(dim, dtype=like.dtype, device=like.device)
        weights['fc_norm.bias'] = torch.zeros(dim, dtype=like.dtype, device=like.device)
        origin['fc_norm.weight'] = origin['fc_norm.bias'] = ''  # added, from no input key
    return weights, origin


def is_timm_beit(weights: Weights) -> bool:
    """timm-named weights with BEiT's parts: timm's ``Beit``, not its ViT."""
    return any(part in key for key in weights for part in BEIT_PARTS)


TIMM_BEIT_NAMES = {(768, 12, 12): ('beitv2_base_patch16_224', 16),
                   (1024, 24, 16): ('beitv2_large_patch16_224', 16)}


def timm_model(weights: Weights, num_heads=None) -> Tuple[str, Dict[str, object]]:
    """The timm model name and the ``create_model`` arguments that build the ViT (or, with
    BEiT's parts, the ``Beit``) whose timm-named ``weights`` these are: what differs from
    the named model's defaults.

    Sizes come from the weights; ``num_heads`` (which they do not tell) from the training
    config, else from the standard size with this width and depth. A size timm does not
    name starts from the base model with every size argument given.
    """
    beit = is_timm_beit(weights)
    names = TIMM_BEIT_NAMES if beit else TIMM_VIT_NAMES
    embed_dim = weights['cls_token'].shape[-1]
    depth = 1 + max(int(k.split('.')[1]) for k in weights if k.startswith('blocks.'))
    patch_size = weights['patch_embed.proj.weight'].shape[-1]
    if 'pos_embed' in weights:
        grid = int(round((weights['pos_embed'].shape[1] - 1) ** 0.5))
    else:  # BEiT's relative position table: (2 grid - 1)^2 + 3 rows
        table = next(v for k, v in weights.items() if k.endswith('relative_position_bias_table'))
        grid = int(round(((table.shape[0] - 3) ** 0.5 + 1) / 2))
    mlp_ratio = weights['blocks.0.mlp.fc1.weight'].shape[0] / embed_dim
    if num_heads is None:
        num_heads = next((h for (d, n, h) in names if (d, n) == (embed_dim, depth)), None)
    name, default_patch = names.get((embed_dim, depth, num_heads), (None, None))
    kwargs = {}
    if name is None:
        name, default_patch = names[(768, 12, 12)]
        kwargs.update(embed_dim=embed_dim, depth=depth)
        if num_heads is not None:  # else the caller must say it
            kwargs['num_heads'] = num_heads
    if patch_size != default_patch:
        kwargs['patch_size'] = patch_size
    if grid * patch_size != 224:
        kwargs['img_size'] = grid * patch_size
    if mlp_ratio != 4:
        kwargs['mlp_ratio'] = mlp_ratio
    if beit:  # timm's beitv2 defaults: per-block tables, no absolute position, layer scale
        if 'rel_pos_bias.relative_position_bias_table' in weights:
            kwargs.update(use_shared_rel_pos_bias=True, use_rel_pos_bias=False)
        if 'pos_embed' in weights:
            kwargs['use_abs_pos_emb'] = True
        if 'blocks.0.gamma_1' not in weights:
            kwargs['init_values'] = None
        if 'norm.weight' in weights:
            kwargs['use_fc_norm'] = False
    elif 'blocks.0.attn.qkv.bias' not in weights:
        kwargs['qkv_bias'] = False
    return name, kwargs
