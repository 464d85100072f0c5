"""Write the demo dataset (mmpretrain ImageNet/CustomDataset and mmseg ADE20K layouts).

    python tools/make_demo_data.py [--root data/demo] [--num-train 256] [--num-val 64]
        [--size 64] [--overwrite]
"""
import argparse

from mim_deepsup.datasets.demo_data import make_demo_data


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--root', default='data/demo')
    parser.add_argument('--num-train', type=int, default=256)
    parser.add_argument('--num-val', type=int, default=64)
    parser.add_argument('--size', type=int, default=64, help='image side in pixels')
    parser.add_argument('--overwrite', action='store_true')
    args = parser.parse_args(argv)
    paths = make_demo_data(args.root, args.num_train, args.num_val, args.size, args.overwrite)
    for name, path in paths.items():
        print(f'{name}: {path}')


if __name__ == '__main__':
    main()
