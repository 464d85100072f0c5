"""Turn a pretraining checkpoint into a backbone checkpoint for fine-tuning.

Inputs: our Runner checkpoints (``state_dict`` with ``backbone.*``, and
``teacher.ema.backbone.*`` for the EMA teacher) and the authors' releases of MAE, DeepMIM and
LUT, which use timm's ViT names (``model`` with ``blocks.N.*``; ``model_ema`` for LUT's EMA
encoder). Outputs: mmpretrain's ``backbone.*`` keys, mmsegmentation's un-prefixed keys, or
timm's ViT names in a safetensors file.
"""
import argparse
import json
import os.path as osp
from typing import Dict, List, Optional, Tuple

import torch

from ..fileio import atomic_write
from .key_maps import (
    is_timm_layout,
    mmpretrain_to_mmseg,
    mmpretrain_to_timm,
    strip_wrappers,
    timm_model,
    timm_to_mmpretrain,
)

# where the encoder's weights live in our algorithms' state dicts
SOURCES = {'student': 'backbone.', 'teacher': 'teacher.ema.backbone.'}
# where the authors' scripts keep the student and the EMA weights (MAE/timm, LUT)
TIMM_ENTRIES = {'student': ('model', 'state_dict', 'module'),
                'teacher': ('model_ema', 'state_dict_ema')}
TARGETS = ('mmpretrain', 'mmseg', 'timm')
# the only non-tensor class the authors' checkpoints pickle (their argparse arguments): a
# plain attribute holder, safe to rebuild; everything else stays refused by weights_only
SAFE_GLOBALS = [argparse.Namespace]


def load_checkpoint(path: str) -> dict:
    """The checkpoint file as a dict, loaded weights-only, or a clear error."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path}: no such checkpoint file')
    try:
        with torch.serialization.safe_globals(SAFE_GLOBALS):
            checkpoint = torch.load(path, map_location='cpu', weights_only=True)
    except Exception as e:  # pickle, zip or weights-only errors all mean: not ours to read
        raise ValueError(f'{path}: not a loadable checkpoint ({type(e).__name__}: '
                         f'{str(e).splitlines()[0] if str(e) else ""})') from None
    if not isinstance(checkpoint, dict):
        raise ValueError(f'{path}: expected a dict of tensors or a dict holding one '
                         f'(state_dict, model), got {type(checkpoint).__name__}')
    return checkpoint


def _is_weights(obj) -> bool:
    return isinstance(obj, dict) and bool(obj) and all(
        isinstance(v, torch.Tensor) for v in obj.values())


def load_state_dict(path: str) -> Dict[str, torch.Tensor]:
    """The ``state_dict`` of one of our checkpoint files, or a clear error."""
    checkpoint = load_checkpoint(path)
    state = checkpoint.get('state_dict', checkpoint)
    if not _is_weights(state):
        raise ValueError(f'{path}: expected a checkpoint holding a state dict of tensors '
                         f'(a dict, or a dict with "state_dict")')
    return state


def extract_backbone(state: Dict[str, torch.Tensor], source: str = 'student'
                     ) -> Tuple[Dict[str, torch.Tensor], List[str]]:
    """The encoder's weights (keys relative to the backbone) and the keys left out.

    ``source``: 'student' (``backbone.*``, what fine-tuning starts from, as the LUT and
    DDAE authors do) or 'teacher' (the EMA copy, ``teacher.ema.backbone.*``).
    """
    if source not in SOURCES:
        raise ValueError(f'source: expected one of {", ".join(SOURCES)}, got {source!r}')
    prefix = SOURCES[source]
    backbone = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    if not backbone:
        hint = (' (this checkpoint has no EMA teacher)' if source == 'teacher' and any(
            k.startswith('backbone.') for k in state) else '')
        raise ValueError(f'no {prefix}* keys in the checkpoint{hint}: it holds no '
                         f'{source} backbone')
    dropped = sorted(k for k in state if not k.startswith(prefix))
    return backbone, dropped


def _timm_state(checkpoint: dict, path: str, source: str) -> Tuple[dict, Dict[str, str]]:
    """The authors' student or EMA weights, wrappers stripped, and each key's full name
    in the file (``model.module.blocks.0...``); ``None`` when the file is not in timm's
    layout."""
    entries = [e for e in TIMM_ENTRIES[source] if _is_weights(checkpoint.get(e))]
    if _is_weights(checkpoint) and source == 'student':
        entries.append('')
    for entry in entries:
        try:
            state, original = strip_wrappers(checkpoint[entry] if entry else checkpoint)
        except ValueError as e:
            raise ValueError(f'{path}: {e}') from None
        if is_timm_layout(state):
            where = f'{entry}.' if entry else ''
            return state, {k: where + v for k, v in original.items()}
    if source == 'teacher' and any(is_timm_layout(strip_wrappers(checkpoint[e])[0])
                                   for e in TIMM_ENTRIES['student']
                                   if _is_weights(checkpoint.get(e))):
        raise ValueError(f'{path}: a timm-layout checkpoint with no EMA weights '
                         f'({" or ".join(TIMM_ENTRIES["teacher"])})')
    return None, {}


def config_num_heads(checkpoint: dict) -> Optional[int]:
    """``num_heads`` of the backbone a checkpoint was trained with, from the config our
    Runner checkpoints carry (``meta.cfg``) or the converter copied (``meta.num_heads``);
    the weights of an MAE-family ViT do not tell it."""
    meta = checkpoint.get('meta', {}) if isinstance(checkpoint, dict) else {}
    if isinstance(meta.get('num_heads'), int):
        return meta['num_heads']
    if not isinstance(meta.get('cfg'), str):
        return None
    from mmengine.config import Config
    from mmpretrain.models import VisionTransformer
    arch = Config.fromstring(meta['cfg'], '.py').model.backbone.get('arch', 'b')
    if isinstance(arch, str):
        arch = VisionTransformer.arch_zoo.get(arch.lower(), {})
    return arch.get('num_heads')


def read_encoder(src: str, source: str = 'student', checkpoint: Optional[dict] = None
                 ) -> Tuple[Dict[str, torch.Tensor], Dict[str, str], List[str]]:
    """The encoder of ``src`` in mmpretrain's names, each key's input key, and the input
    keys left out; for our checkpoints and for timm-layout releases alike (``checkpoint``:
    the file's content, if the caller loaded it already)."""
    if source not in SOURCES:
        raise ValueError(f'source: expected one of {", ".join(SOURCES)}, got {source!r}')
    checkpoint = load_checkpoint(src) if checkpoint is None else checkpoint
    timm_state, full_name = _timm_state(checkpoint, src, source)
    if timm_state is not None:
        try:
            backbone, origin = timm_to_mmpretrain(timm_state)
        except ValueError as e:
            raise ValueError(f'{src}: {e}') from None
        used = {key for keys in origin.values() for key in keys.split('+')}
        dropped = sorted(full_name[k] for k in timm_state if k not in used)
        return backbone, {k: '+'.join(full_name[p] for p in v.split('+'))
                          for k, v in origin.items()}, dropped
    state = checkpoint.get('state_dict', checkpoint)
    if not _is_weights(state):
        raise ValueError(f'{src}: expected one of our checkpoints (a state dict of tensors '
                         f'with backbone.* keys) or a timm-layout ViT (model: blocks.N.*)')
    try:
        backbone, dropped = extract_backbone(state, source)
    except ValueError as e:
        raise ValueError(f'{src}: {e}') from None
    return backbone, {k: SOURCES[source] + k for k in backbone}, dropped


def save_atomic(obj, path: str) -> None:
    """``torch.save(obj)`` to ``path`` atomically: an interrupted write leaves no file."""
    atomic_write(path, lambda f: torch.save(obj, f))


def save_safetensors_atomic(weights: Dict[str, torch.Tensor], metadata: Dict[str, str],
                            path: str) -> None:
    """``weights`` as a safetensors file at ``path``, written atomically (each tensor its
    own contiguous copy: safetensors refuses shared or strided storage)."""
    from safetensors.torch import save
    data = save({k: v.detach().contiguous().clone() for k, v in weights.items()}, metadata)
    atomic_write(path, lambda f: f.write(data))


def convert_checkpoint(src: str, dst: str, target: str = 'mmpretrain',
                       source: str = 'student') -> Dict[str, List]:
    """Convert ``src`` (one of our pretraining checkpoints, or a timm-layout release of
    MAE, DeepMIM or LUT) into ``dst``.

    Target 'mmpretrain': ``{'state_dict': {'backbone.<key>': tensor}}``, which a
    ``VisionTransformer`` loads with ``init_cfg=dict(type='Pretrained', checkpoint=dst,
    prefix='backbone.')`` (mmpretrain's MAE benchmark configs).
    Target 'mmseg': ``{'state_dict': {'<key>': tensor}}`` in the names of mmseg's ``MAE``
    (or, from BEiT-v2, ``BEiT``) backbone, which loads the file as it is when the
    segmentation config sets ``model.pretrained=dst``; see :func:`key_maps.mmpretrain_to_mmseg`.
    Target 'timm': a safetensors file (``dst`` must end in ``.safetensors``) of timm's
    ``VisionTransformer`` names (BEiT: timm's ``Beit``; see
    :func:`key_maps.mmpretrain_to_timm`), without a head, which
    ``timm.create_model(name, pretrained=True, **kwargs,
    pretrained_cfg_overlay=dict(file=dst, num_classes=0))`` loads with strict keys; the
    name and arguments are returned as ``timm`` and stored in the file's metadata.

    Returns:
        dict: ``kept`` (output keys), ``dropped`` (input keys left out: decoders, heads,
        components, teacher or student, and what the target leaves out), ``renamed``
        ((input, output) pairs), ``added`` (output keys from no input key: the pooled-feature
        norm timm's Beit needs) and, for timm, ``timm`` (``(name, kwargs)``).
    """
    if target not in TARGETS:
        raise ValueError(f'target: expected one of {", ".join(TARGETS)}, got {target!r}')
    if target == 'timm' and not dst.endswith('.safetensors'):
        raise ValueError(f'{dst}: --target timm writes safetensors, which timm reads by the '
                         f'file name: give DST a .safetensors name')
    checkpoint = load_checkpoint(src)
    backbone, origin, dropped = read_encoder(src, source, checkpoint)
    if target in ('mmseg', 'timm'):
        to_target = mmpretrain_to_mmseg if target == 'mmseg' else mmpretrain_to_timm
        try:
            out, out_names = to_target(backbone)
        except ValueError as e:
            raise ValueError(f'{src}: {e}') from None
        taken = set(out_names.values())
        dropped = sorted(dropped + [origin[k] for k in backbone if k not in taken])
        out_origin = {k: origin[v] for k, v in out_names.items() if v}
    else:
        out = {f'backbone.{k}': v for k, v in backbone.items()}
        out_origin = {f'backbone.{k}': v for k, v in origin.items()}
    renamed = sorted((v, k) for k, v in out_origin.items() if k != v)
    meta = dict(converted_from=osp.abspath(src), source=source, target=target)
    heads = config_num_heads(checkpoint)
    if heads:  # for the analysis tools: the weights do not tell it
        meta['num_heads'] = heads
    report = dict(kept=sorted(out), dropped=dropped, renamed=renamed,
                  added=sorted(set(out) - set(out_origin)))
    if target == 'timm':
        report['timm'] = name, kwargs = timm_model(out, heads)
        meta.update(timm_model=name, timm_kwargs=json.dumps(kwargs))
        save_safetensors_atomic(out, {k: str(v) for k, v in meta.items()}, dst)
    else:
        save_atomic({'state_dict': out, 'meta': meta}, dst)
    return report
