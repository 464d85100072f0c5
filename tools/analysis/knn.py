"""k-NN classification of frozen features: the cheapest way to compare two pretraining runs.

    python tools/analysis/knn.py CHECKPOINT TRAIN_FOLDER VAL_FOLDER --out DIR [--teacher]
        [--k 20] [--temperature 0.07] [--pool mean|cls] [--limit N] [--num-heads N]

TRAIN_FOLDER and VAL_FOLDER hold one sub-folder of images per class (ImageNet layout). DINO's
weighted vote: cosine similarity, the k nearest training images, weights exp(s / T). Writes
DIR/knn.json (accuracy, confusion), knn.csv (per-class accuracy), knn.png and prints the
accuracy.
"""
import argparse
import os.path as osp
import sys

import mim_deepsup  # noqa: F401  (registers the encoders)
from mim_deepsup.analysis.encoder import load_encoder
from mim_deepsup.analysis.images import load_labelled_folder
from mim_deepsup.analysis.reports import knn_report, write_knn_report


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('checkpoint', help='pretraining checkpoint or backbone file')
    parser.add_argument('train', help='labelled training images: TRAIN/<class>/<image>')
    parser.add_argument('val', help='labelled images to classify: VAL/<class>/<image>')
    parser.add_argument('--out', required=True, help='output folder')
    parser.add_argument('--teacher', action='store_true', help="the EMA teacher's encoder")
    parser.add_argument('--k', type=int, default=20)
    parser.add_argument('--temperature', type=float, default=0.07)
    parser.add_argument('--pool', choices=('mean', 'cls'), default='mean',
                        help='mean of the final patch tokens (default) or the cls token')
    parser.add_argument('--limit', type=int, help='at most N images per class')
    parser.add_argument('--num-heads', type=int, help='attention heads, if the checkpoint '
                        'does not tell (they change the features)')
    args = parser.parse_args(argv)
    try:
        encoder, facts = load_encoder(args.checkpoint, 'teacher' if args.teacher else 'student',
                                      args.num_heads)
        train_images, train_labels, classes = load_labelled_folder(
            args.train, facts['img_size'], args.limit)
        val_images, val_labels, val_classes = load_labelled_folder(
            args.val, facts['img_size'], args.limit)
        if val_classes != classes:
            raise ValueError(f'{args.val}: classes {val_classes} differ from {args.train}\'s '
                             f'{classes}')
    except (ValueError, OSError, KeyError) as e:
        print(f'knn.py: {e}', file=sys.stderr)
        return 2
    report = knn_report(encoder, (train_images, train_labels), (val_images, val_labels),
                        classes, k=args.k, temperature=args.temperature, pool=args.pool)
    report['checkpoint'] = osp.abspath(args.checkpoint)
    for path in write_knn_report(report, args.out, osp.basename(args.checkpoint)):
        print(path)
    print(f'k-NN top-1: {report["accuracy"]:.2f} % ({report["num_val"]} images, '
          f'{len(classes)} classes, k={args.k}, T={args.temperature})')
    return 0


if __name__ == '__main__':
    sys.exit(main())
