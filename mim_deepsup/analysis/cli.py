"""The command line of the encoder analyses over a folder of images, shared by
tools/analysis/attention_distance.py, head_diversity.py, cka.py, spectrum.py and analyse.py:

    python tools/analysis/analyse.py CHECKPOINT IMAGE_FOLDER --out DIR [--teacher]
        [--num-heads N] [--limit 64] [--batch-size 32]

CHECKPOINT: one of our pretraining checkpoints, or an authors' release (timm names), or a
converted backbone file. Writes DIR/<analysis>.json, .csv and .png and prints their paths.
"""
import argparse
import os.path as osp
import sys

from .encoder import load_encoder
from .images import load_folder
from .reports import analyse, write_report


def main(which, argv=None, description=__doc__) -> int:
    parser = argparse.ArgumentParser(description=description.splitlines()[0])
    parser.add_argument('checkpoint', help='pretraining checkpoint or backbone file')
    parser.add_argument('images', help='a folder of images (searched recursively)')
    parser.add_argument('--out', required=True, help='output folder')
    parser.add_argument('--teacher', action='store_true', help="the EMA teacher's encoder")
    parser.add_argument('--num-heads', type=int, help='attention heads, if neither the '
                        'checkpoint nor a standard ViT of its size tells them')
    parser.add_argument('--limit', type=int, default=64, help='images to use (first N)')
    parser.add_argument('--batch-size', type=int, default=32)
    args = parser.parse_args(argv)
    try:
        encoder, facts = load_encoder(args.checkpoint, 'teacher' if args.teacher else 'student',
                                      args.num_heads)
        images, _ = load_folder(args.images, facts['img_size'], args.limit)
    except (ValueError, OSError, KeyError) as e:
        print(f'{osp.basename(sys.argv[0])}: {e}', file=sys.stderr)
        return 2
    report = analyse(encoder, facts, images, which, batch_size=args.batch_size)
    report.update(checkpoint=osp.abspath(args.checkpoint), facts=facts,
                  source='teacher' if args.teacher else 'student')
    title = f'{osp.basename(args.checkpoint)} ({len(images)} images)'
    for path in write_report(report, args.out, title):
        print(path)
    return 0

