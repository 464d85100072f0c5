"""Average attention distance per block and head (pixels).

    python tools/analysis/attention_distance.py CHECKPOINT IMAGE_FOLDER --out DIR [--teacher]
        [--num-heads N] [--limit 64]

Writes the JSON, CSV and PNG of the analysis into DIR (see encoder_analysis.py).
"""
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from encoder_analysis import main  # noqa: E402

if __name__ == '__main__':
    sys.exit(main(['aad'], description=__doc__))
