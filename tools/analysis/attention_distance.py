"""Average attention distance per block and head (pixels).

    python tools/analysis/attention_distance.py CHECKPOINT IMAGE_FOLDER --out DIR [--teacher]
        [--num-heads N] [--limit 64]

Writes the JSON, CSV and PNG of the analysis into DIR (see mim_deepsup/analysis/cli.py).
"""
import sys

from mim_deepsup.analysis.cli import main

if __name__ == '__main__':
    sys.exit(main(['aad'], description=__doc__))
