"""The pretrained encoder of a checkpoint, run on images with its block outputs and its
attention maps recorded.

Any checkpoint the converter reads works: ours (student or EMA teacher) and the authors'
timm-named releases. The encoder is rebuilt as the module our pretraining trains
(``TappedMAEViT``, or ``TappedBEiTPretrainViT`` for BEiT-v2 encoders) and loaded strictly.
"""
import contextlib
from typing import Dict, Iterator, List, Optional, Tuple

import torch
from mmpretrain.models import VisionTransformer
from mmpretrain.registry import MODELS

from ..checkpoints.backbone_converter import config_num_heads, load_checkpoint, read_encoder


def known_num_heads(embed_dims: int, num_layers: int) -> Optional[int]:
    """Heads of the standard ViT of this width and depth (mmpretrain's arch zoo: S, B, L,
    H, ...), or None."""
    heads = {arch['num_heads'] for arch in VisionTransformer.arch_zoo.values()
             if (arch['embed_dims'], arch['num_layers']) == (embed_dims, num_layers)}
    return heads.pop() if len(heads) == 1 else None


def encoder_facts(weights: Dict[str, torch.Tensor], path: str) -> dict:
    """Architecture read off the weights: family, width, depth, patch size, patch grid,
    and the heads when the weights tell them (a BEiT-v2 relative position table)."""
    try:
        embed_dims, _, patch, _ = weights['patch_embed.projection.weight'].shape
        layers = {int(k.split('.')[1]) for k in weights if k.startswith('layers.')}
        if not layers:
            raise KeyError('layers.0')
        table = weights.get('rel_pos_bias.relative_position_bias_table')  # BEiT-v2, shared
        if 'pos_embed' in weights:  # (1, 1 + h w, C)
            cells = weights['pos_embed'].shape[1] - 1
            side = int(round(cells**0.5))
        else:  # BEiT-v2: a relative position table of (2h - 1)^2 + 3 rows
            cells = table.shape[0] - 3
            side = (int(round(cells**0.5)) + 1) // 2
            cells = side * side if (2 * side - 1)**2 == table.shape[0] - 3 else -1
        if side * side != cells:
            raise ValueError('a square patch grid (pos_embed or relative position table)')
        return dict(family='beit' if 'layers.0.attn.q_bias' in weights else 'mae',
                    embed_dims=embed_dims,
                    num_heads=None if table is None else table.shape[1],
                    num_layers=1 + max(layers), patch_size=patch, grid=(side, side),
                    img_size=side * patch,
                    feedforward_channels=weights['layers.0.ffn.layers.0.0.weight'].shape[0])
    except (KeyError, AttributeError) as e:
        raise ValueError(f'{path}: no ViT encoder of the MAE or BEiT-v2 family in it '
                         f'(missing {e})') from None
    except ValueError as e:
        raise ValueError(f'{path}: expected {e}') from None


def load_encoder(path: str, source: str = 'student', num_heads: Optional[int] = None
                 ) -> Tuple[torch.nn.Module, dict]:
    """The encoder of ``path`` (eval mode, on the CPU; move it with ``.to``) and its facts.

    ``num_heads`` (the weights do not tell it for MAE-family ViTs): this argument, else a
    BEiT relative position table (one column per head), else the checkpoint's config
    (ours, and files our converter wrote from them), else the standard ViT of that width
    and depth; else an error asks for it. ``facts['num_heads_from']`` says which.
    """
    checkpoint = load_checkpoint(path)
    try:
        weights, _, _ = read_encoder(path, source, checkpoint)
    except ValueError as e:
        state = checkpoint.get('state_dict', checkpoint)
        if 'patch_embed.projection.weight' in state:  # keys without backbone.: mmseg's
            raise ValueError(f'{path}: an mmseg backbone file (no backbone.* keys); '
                             f'analyse the pretraining checkpoint, or its conversion with '
                             f'--target mmpretrain') from None
        raise e
    facts = encoder_facts(weights, path)
    candidates = (('argument', num_heads), ('weights', facts['num_heads']),
                  ('config', config_num_heads(checkpoint)),
                  ('standard ViT', known_num_heads(facts['embed_dims'], facts['num_layers'])))
    found = [(where, n) for where, n in candidates if n]
    if not found:
        raise ValueError(f'{path}: the number of attention heads of this {facts["embed_dims"]}'
                         f'-d, {facts["num_layers"]}-block ViT is not known: pass --num-heads')
    facts['num_heads_from'], heads = found[0]
    if facts['embed_dims'] % heads:
        raise ValueError(f'{path}: width {facts["embed_dims"]} is not divisible by '
                         f'num_heads={heads} (pass --num-heads)')
    facts['num_heads'] = heads
    kind = 'TappedBEiTPretrainViT' if facts['family'] == 'beit' else 'TappedMAEViT'
    encoder = MODELS.build(dict(
        type=f'mmpretrain.{kind}',  # whatever default scope a Runner left behind
        img_size=facts['img_size'], patch_size=facts['patch_size'],
        final_norm='ln1.weight' in weights,  # BEiT-v2 keeps its final norm in the neck
        arch=dict(embed_dims=facts['embed_dims'], num_layers=facts['num_layers'],
                  num_heads=heads, feedforward_channels=facts['feedforward_channels'])))
    try:
        result = encoder.load_state_dict(weights, strict=False)
    except RuntimeError as e:  # shapes that do not fit, e.g. a wrong --num-heads for BEiT
        raise ValueError(f'{path}: does not fit a {facts["family"]} ViT with {heads} heads: '
                         f'{str(e).splitlines()[-1].strip()}') from None
    missing = [k for k in result.missing_keys if k != 'mask_token']
    if missing or result.unexpected_keys:
        raise ValueError(f'{path}: does not fit a {facts["family"]} ViT '
                         f'({facts["num_layers"]} blocks, {facts["embed_dims"]}-d): '
                         f'missing {missing[:4]}, unexpected {result.unexpected_keys[:4]}')
    encoder.eval()  # (mmpretrain's ViTs return None from train())
    return encoder, facts


@contextlib.contextmanager
def attention_recorded(encoder: torch.nn.Module):
    """Within the block, each forward of ``encoder`` appends every block's attention
    probabilities, (B, H, T, T) with T = 1 + N, to the yielded list.

    They come from the attention computation the model trains with, not from a second
    implementation: MAE's ``MultiheadAttention`` calls its own scaled-dot-product
    function once more with the identity as values (softmax(q k^T s) @ I is the
    attention matrix); BEiT's attention hands its probabilities to ``attn_drop``, whose
    output is recorded.
    """
    maps: List[torch.Tensor] = []
    patched, hooks = [], []
    try:
        for layer in encoder.layers:
            attn = layer.attn
            if hasattr(attn, 'scaled_dot_product_attention'):
                original = attn.scaled_dot_product_attention

                def recording(q, k, v, *args, _original=original, **kwargs):
                    eye = torch.eye(k.shape[-2], dtype=v.dtype, device=v.device)
                    maps.append(_original(q, k, eye.expand(*v.shape[:-2], -1, -1), *args,
                                          **kwargs))
                    return _original(q, k, v, *args, **kwargs)
                attn.scaled_dot_product_attention = recording
                patched.append((attn, original))
            elif hasattr(attn, 'attn_drop'):
                hooks.append(attn.attn_drop.register_forward_hook(
                    lambda module, args, output: maps.append(output)))
            else:
                raise TypeError(f'{type(attn).__name__}: no known way to read its attention')
        yield maps
    finally:
        for attn, original in patched:
            attn.scaled_dot_product_attention = original
        for hook in hooks:
            hook.remove()


def has_cls_token(encoder: torch.nn.Module) -> bool:
    """Whether ``encoder`` prepends a cls token (the ViTs; a Swin has none)."""
    return getattr(encoder, 'cls_token', None) is not None


@torch.no_grad()
def iter_encoded(encoder: torch.nn.Module, images: torch.Tensor, attention: bool = True,
                 batch_size: int = 32) -> Iterator[dict]:
    """Every block's output and attention for ``images`` (n, 3, H, W), unmasked, one batch
    at a time (a ViT-B's attention maps of 64 images would take 1.4 GB at once).

    ``encoder`` is one of our tapped backbones: a ViT (MAE, BEiT-v2, MaskFeat) or a Swin
    (SimMIM), whose blocks have their stage's resolution and width.

    Yields:
        dict: ``blocks``: L (b, N_l, C_l) raw patch tokens of each block (a ViT's cls
        token left out); ``final``: (b, N, C) final-normed patch tokens (BEiT-v2: the last
        block's, its norm is in the neck; a Swin: the last stage's normed map, flattened);
        ``cls``: (b, C) the final cls token, or None for a Swin; ``attention``: L
        (b, H, T, T) with T = 1 + N, if asked for (ViTs only: a Swin's attention is
        confined to windows).
    """
    taps = tuple(range(1, len(encoder.layers) + 1))
    device = next(encoder.parameters()).device
    cls = has_cls_token(encoder)
    if attention and not cls:
        raise TypeError(f'{type(encoder).__name__}: windowed attention; attention maps '
                        f'over the whole image are read from ViTs only')
    for start in range(0, len(images), batch_size):
        batch = images[start:start + batch_size].to(device)
        context = attention_recorded(encoder) if attention else contextlib.nullcontext([])
        with context as recorded:
            outputs, tapped = encoder.forward_taps(batch, taps=taps, mask=None)
        final = outputs[-1]
        if cls:  # (b, 1 + N, C)
            result = dict(blocks=[tapped[t][:, 1:] for t in taps], final=final[:, 1:],
                          cls=final[:, 0])
        else:  # a Swin: (b, C, h, w) maps out, (b, h w, C) taps
            result = dict(blocks=[tapped[t] for t in taps],
                          final=final.flatten(2).transpose(1, 2), cls=None)
        if attention:
            result['attention'] = list(recorded)
        yield result
