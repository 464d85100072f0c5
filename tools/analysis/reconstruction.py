"""Reconstruction figures of a pretraining checkpoint: original, masked input, the final
decoder's and each auxiliary decoder's reconstruction, and DDAE's dynamic weight maps.

    python tools/analysis/reconstruction.py CHECKPOINT IMAGE_FOLDER --out DIR
        [--num-images 4] [--seed 0] [--progress 1.0]

CHECKPOINT: one of our MAE-family pretraining checkpoints (it carries its config). The mask
is MAE's random mask drawn with SEED; DDAE's weights are shown at training progress
PROGRESS (1.0: the end of the schedule). Writes DIR/reconstruction.png and
reconstruction.json (masked-patch MSE per image and decoder, the weight maps).
"""
import argparse
import os.path as osp
import sys

import mim_deepsup  # noqa: F401  (registers the components)
from mim_deepsup.analysis.images import load_folder
from mim_deepsup.analysis.reconstruction import (
    load_pretraining_model,
    write_reconstruction,
)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('checkpoint', help='one of our MAE-family pretraining checkpoints')
    parser.add_argument('images', help='a folder of images (the first N are shown)')
    parser.add_argument('--out', required=True, help='output folder')
    parser.add_argument('--num-images', type=int, default=4)
    parser.add_argument('--seed', type=int, default=0, help='seed of the random mask')
    parser.add_argument('--progress', type=float, default=1.0,
                        help="training progress t in [0, 1] for DDAE's weights")
    args = parser.parse_args(argv)
    try:
        model = load_pretraining_model(args.checkpoint)
        size = model.backbone.patch_resolution[0] * model.backbone.patch_embed.projection \
            .kernel_size[0]
        images, paths = load_folder(args.images, size, args.num_images)
    except (ValueError, OSError, KeyError) as e:
        print(f'reconstruction.py: {e}', file=sys.stderr)
        return 2
    for path in write_reconstruction(model, images, paths, args.out, seed=args.seed,
                                     progress=args.progress,
                                     title=osp.basename(args.checkpoint)):
        print(path)
    return 0


if __name__ == '__main__':
    sys.exit(main())
