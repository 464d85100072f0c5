"""Turn a pretraining checkpoint of ours into a backbone checkpoint for fine-tuning."""
import os
import os.path as osp
import tempfile
from typing import Dict, List, Tuple

import torch

# where the encoder's weights live in our algorithms' state dicts
SOURCES = {'student': 'backbone.', 'teacher': 'teacher.ema.backbone.'}
TARGETS = ('mmpretrain', )


def load_state_dict(path: str) -> Dict[str, torch.Tensor]:
    """The ``state_dict`` of a checkpoint file (loaded weights-only), or a clear error."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path}: no such checkpoint file')
    try:
        checkpoint = torch.load(path, map_location='cpu', weights_only=True)
    except Exception as e:  # pickle, zip or weights-only errors all mean: not ours to read
        raise ValueError(f'{path}: not a loadable checkpoint ({type(e).__name__}: '
                         f'{str(e).splitlines()[0] if str(e) else ""})') from None
    state = checkpoint.get('state_dict', checkpoint) if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor)
                                              for v in state.values()):
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


def save_atomic(obj, path: str) -> None:
    """Write ``obj`` with torch.save to a temporary file beside ``path``, then rename it:
    an interrupted write leaves no partial file."""
    directory = osp.dirname(osp.abspath(path))
    os.makedirs(directory, exist_ok=True)
    handle, tmp = tempfile.mkstemp(prefix='.partial-', suffix='.pth', dir=directory)
    os.close(handle)
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise


def convert_checkpoint(src: str, dst: str, target: str = 'mmpretrain',
                       source: str = 'student') -> Dict[str, List]:
    """Convert ``src`` (one of our pretraining checkpoints) into ``dst``.

    Target 'mmpretrain': ``{'state_dict': {'backbone.<key>': tensor}}``, which a
    ``VisionTransformer`` loads with ``init_cfg=dict(type='Pretrained', checkpoint=dst,
    prefix='backbone.')`` (mmpretrain's MAE benchmark configs).

    Returns:
        dict: ``kept`` (output keys), ``dropped`` (input keys left out: decoders, heads,
        components, teacher or student) and ``renamed`` ((input, output) pairs).
    """
    if target not in TARGETS:
        raise ValueError(f'target: expected one of {", ".join(TARGETS)}, got {target!r}')
    state = load_state_dict(src)
    backbone, dropped = extract_backbone(state, source)
    prefix = SOURCES[source]
    out = {f'backbone.{k}': v for k, v in backbone.items()}
    renamed = [(prefix + k, f'backbone.{k}') for k in backbone if prefix != 'backbone.']
    save_atomic({'state_dict': out, 'meta': dict(converted_from=osp.abspath(src),
                                                  source=source, target=target)}, dst)
    return dict(kept=sorted(out), dropped=dropped, renamed=renamed)
