"""The k-NN of the frozen student encoder during pretraining: a curve, not one point."""
import json
import os.path as osp
import time
from typing import List, Optional

import torch
from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from mmpretrain.registry import HOOKS

from ...core.validation import check_int, check_number
from ...fileio import atomic_write
from .progress_hook import unwrap_model


@HOOKS.register_module()
class OnlineKNNHook(Hook):
    """k-NN top-1 of the student encoder's frozen features on fixed labelled subsets,
    before the first iteration, every ``interval`` iterations and after the last.

    Features are those of the offline evaluation (``mim_deepsup.analysis.reports``): the
    mean of the final-normed patch tokens, and with ``blocks`` the mean of every block's
    raw patch tokens, of the unmasked images; the vote is DINO's (cosine similarity, the
    ``k`` nearest training images weighted by ``exp(s / temperature)``). The images are
    read once, resized to the encoder's input size and normalised as the analysis tools
    do. The hook reads no random numbers and switches the encoder to eval mode only for the
    evaluation, so training goes on exactly as without it.

    Each point ``{'iter', 'knn', 'knn_blocks', 'seconds'}`` (``iter``: iterations done;
    accuracies in percent) is appended to ``<work_dir>/<out_file>`` (rewritten atomically
    after each evaluation), logged, and sent to the visualizer as ``knn/top1``. On resume
    the file's points up to the resumed iteration are kept. Under DDP only rank 0
    evaluates (the others wait at the next collective); FSDP's sharded parameters are not
    supported.

    Args:
        data_root (str): An image folder with ``train/<class>/`` and ``val/<class>/``
            (the same class folders in both).
        interval (int): Iterations between two evaluations. Defaults to 100.
        num_train_per_class (int, optional): The first images (sorted by name) of each
            training class; None for all of them. Defaults to None.
        num_val_per_class (int, optional): Likewise of each validation class; None for all
            of them. Defaults to None.
        k (int): Neighbours that vote. Defaults to 20.
        temperature (float): Temperature of the vote's weights. Defaults to 0.07.
        blocks (bool): Also the k-NN of every block's output. Defaults to True.
        out_file (str): The curve's file name in the work dir, ending in ``.json``.
            Defaults to 'knn_curve.json'.
    """

    priority = 'LOW'  # after the EMA teacher's update, before the checkpoint is saved

    def __init__(self, data_root: str, interval: int = 100,
                 num_train_per_class: Optional[int] = None,
                 num_val_per_class: Optional[int] = None, k: int = 20,
                 temperature: float = 0.07, blocks: bool = True,
                 out_file: str = 'knn_curve.json') -> None:
        name = type(self).__name__
        if not isinstance(data_root, str) or not osp.isdir(osp.join(data_root, 'train')) \
                or not osp.isdir(osp.join(data_root, 'val')):
            raise FileNotFoundError(f'{name}.data_root: expected a folder with train/<class>/ '
                                    f'and val/<class>/, got {data_root!r}')
        self.data_root = data_root
        self.interval = check_int(interval, f'{name}.interval', minimum=1)
        self.limits = tuple(None if n is None else check_int(n, f'{name}.{key}', minimum=1)
                            for key, n in (('num_train_per_class', num_train_per_class),
                                           ('num_val_per_class', num_val_per_class)))
        self.k = check_int(k, f'{name}.k', minimum=1)
        self.temperature = check_number(temperature, f'{name}.temperature', minimum=0,
                                        open_min=True)
        self.blocks = bool(blocks)
        if not isinstance(out_file, str) or not out_file.endswith('.json'):
            raise ValueError(f'{name}.out_file: expected a file name ending in .json, got '
                             f'{out_file!r}')
        self.out_file = out_file
        self.points: List[dict] = []

    def before_train(self, runner) -> None:
        if not is_main_process():
            return
        from ...analysis.images import load_labelled_folder
        encoder = unwrap_model(runner.model).backbone
        facts = encoder.facts()
        size = facts['patch_grid'][0] * facts['patch_size']
        self.train = load_labelled_folder(osp.join(self.data_root, 'train'), size,
                                          self.limits[0])
        self.val = load_labelled_folder(osp.join(self.data_root, 'val'), size,
                                        self.limits[1])
        if self.train[2] != self.val[2]:
            raise ValueError(f'{type(self).__name__}.data_root: train/ and val/ of '
                             f'{self.data_root} have different class folders')
        self.path = osp.join(runner.work_dir, self.out_file)
        self.points = []
        if runner.iter > 0 and osp.isfile(self.path):  # resumed: keep the points so far
            with open(self.path) as f:
                self.points = [p for p in json.load(f)['points'] if p['iter'] <= runner.iter]
        if runner.iter == 0:
            self._evaluate(runner, 0)

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        done = runner.iter + 1
        if is_main_process() and (done % self.interval == 0 or done == runner.max_iters):
            self._evaluate(runner, done)

    @torch.no_grad()
    def _evaluate(self, runner, done: int) -> None:
        from ...analysis.metrics import knn_accuracy
        from ...analysis.reports import block_features
        start = time.perf_counter()
        encoder = unwrap_model(runner.model).backbone
        was_training = encoder.training
        encoder.eval()
        try:
            train, val = block_features(encoder, self.train[0]), \
                block_features(encoder, self.val[0])
        finally:
            encoder.train(was_training)
        device = train['final'].device
        labels = self.train[1].to(device), self.val[1].to(device)
        classes = len(self.train[2])

        def knn(a, b):
            return knn_accuracy(a, labels[0], b, labels[1], classes, k=self.k,
                                temperature=self.temperature)

        point = dict(iter=done, knn=knn(train['final'], val['final']),
                     knn_blocks=[knn(a, b) for a, b in zip(train['blocks'], val['blocks'])]
                     if self.blocks else None)
        point['seconds'] = time.perf_counter() - start
        self.points.append(point)
        text = json.dumps(dict(
            data_root=self.data_root, num_train=len(labels[0]), num_val=len(labels[1]),
            k=self.k, temperature=self.temperature, points=self.points), indent=1)
        atomic_write(self.path, lambda f: f.write(text.encode()))
        runner.visualizer.add_scalars({'knn/top1': point['knn']}, step=done)
        runner.logger.info(f'online k-NN at iteration {done}: {point["knn"]:.2f} % '
                           f'({point["seconds"]:.1f} s)')
