"""Convert a pretraining checkpoint into a backbone checkpoint for fine-tuning.

    python tools/convert_checkpoint.py SRC DST [--target mmpretrain|mmseg|timm] [--teacher]

SRC: one of our Runner checkpoints, or an authors' release of MAE, DeepMIM or LUT in timm's
ViT names (``model``: ``blocks.N.*``; ``--teacher`` takes ``model_ema``). Keeps the
student's encoder (``--teacher``: the EMA teacher's copy), drops decoders, heads,
components and the teacher, writes DST atomically and prints what it kept, dropped and
renamed. ``--target mmpretrain`` writes ``backbone.*`` keys for a ``VisionTransformer`` with
``init_cfg=dict(type='Pretrained', prefix='backbone.')``; ``--target mmseg`` writes the keys
of mmseg's ``MAE`` (or, from BEiT-v2, ``BEiT``) backbone for ``model.pretrained=DST``;
``--target timm`` writes DST (a ``.safetensors`` file) in timm's ViT names and prints the
``timm.create_model`` call that loads it.
"""
import argparse
import sys
from collections import Counter

from mim_deepsup.checkpoints import convert_checkpoint
from mim_deepsup.checkpoints.backbone_converter import TARGETS


def group(keys):
    """'neck.decoder_blocks.0.ln1.weight' -> 'neck' counts, for a short summary (two parts
    for 'supervisions.<name>' and for a release's 'model.<part>')."""
    def head(key):
        parts = key.split('.')
        return '.'.join(parts[:2] if parts[0] in ('supervisions', 'model', 'model_ema')
                        and len(parts) > 2 else parts[:1])
    counts = Counter(head(k) for k in keys)
    return ', '.join(f'{name} ({n})' for name, n in sorted(counts.items()))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('src', help='a pretraining checkpoint (e.g. work_dirs/.../epoch_N.pth) '
                        'or a timm-named release (MAE, DeepMIM, LUT)')
    parser.add_argument('dst', help='the backbone checkpoint to write')
    parser.add_argument('--target', choices=TARGETS, default='mmpretrain')
    parser.add_argument('--teacher', action='store_true',
                        help='take the EMA teacher\'s encoder instead of the student\'s')
    args = parser.parse_args(argv)
    try:
        report = convert_checkpoint(args.src, args.dst, target=args.target,
                                    source='teacher' if args.teacher else 'student')
    except (ValueError, OSError) as e:  # bad input, or DST not writable
        print(f'convert_checkpoint: {e}', file=sys.stderr)
        return 2
    print(f'kept {len(report["kept"])} backbone tensors '
          f'({"EMA teacher" if args.teacher else "student"}) -> {args.dst}')
    print(f'dropped {len(report["dropped"])}: {group(report["dropped"]) or "nothing"}')
    print(f'renamed {len(report["renamed"])}' + (
        f': {report["renamed"][0][0]} -> {report["renamed"][0][1]}, ...'
        if report['renamed'] else ''))
    if report['added']:
        print(f'added {len(report["added"])} at their initial values: '
              f'{", ".join(report["added"])}')
    if 'timm' in report:
        name, kwargs = report['timm']
        arguments = ''.join(f', {k}={v!r}' for k, v in kwargs.items())
        print(f"timm: timm.create_model({name!r}, pretrained=True{arguments}, "
              f"pretrained_cfg_overlay=dict(file={args.dst!r}, num_classes=0))")
    return 0


if __name__ == '__main__':
    sys.exit(main())
