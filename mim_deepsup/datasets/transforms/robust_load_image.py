"""Image loading that names a bad file (or skips and counts it) and always gives 8-bit BGR."""
import io
import logging
import os
from typing import Optional

import cv2
import mmcv
import numpy as np
import torch
from mmcv.transforms import LoadImageFromFile
from mmengine import fileio
from mmengine.logging import print_log
from mmpretrain.registry import TRANSFORMS
from PIL import Image, ImageOps

COLOR_FLAGS = ('color', 'color_ignore_orientation')
ON_BAD_IMAGE = ('raise', 'skip')
JPEG_START = b'\xff\xd8'
REDUCED_COLOR = {2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4,
                 8: cv2.IMREAD_REDUCED_COLOR_8}


@TRANSFORMS.register_module()
class RobustLoadImageFromFile(LoadImageFromFile):
    """mmcv's ``LoadImageFromFile`` that stops on a bad file with its name, or skips it.

    A file is bad when it cannot be read (missing, no permission), is empty (0 bytes) or
    cannot be decoded (truncated, not an image).

    - ``on_bad_image='raise'`` (default): raise an ``OSError`` whose message names the file
      and what is wrong with it.
    - ``on_bad_image='skip'``: log a warning (mmengine's current logger) naming the file and
      the number of bad images skipped so far by this process, and return ``None``;
      mmengine's ``BaseDataset`` then loads a random other sample instead (at most
      ``max_refetch`` times in a row, 1000 by default, before it raises). A dataset in test
      mode (validation, test) raises on ``None``: ``'skip'`` is for training.

    The count is kept per process: each dataloader worker has its own and says which worker
    it is. Workers are re-created every epoch unless ``persistent_workers=True``, and their
    counts then start again from the main process's.

    With ``color_type='color'`` (the default) the image is (H, W, 3) uint8 BGR whatever the
    file holds: grey is repeated on the three channels and alpha is dropped (mmcv's
    decoders already do both), and 16-bit samples are scaled to 8 bits by keeping the high
    byte (``v >> 8``, what OpenCV does). mmcv's ``'pillow'`` backend would instead clip 16-bit
    grey to 255; here both backends give the same image.

    ``decode_min_side`` (off by default) decodes a JPEG at 1/2, 1/4 or 1/8 of its size in
    the DCT (libjpeg's scaling, through OpenCV) when its short side stays at least that:
    for a pipeline that downscales every image to that short side anyway (LUT's shared
    resize to 224), a 1000 x 750 JPEG then decodes and resizes in 0.56 of the time. The
    pixels differ from a full decode and resize (docs/performance.md, "The data
    pipeline's CPU cost"); an image that cannot be halved decodes to the same pixels.

    **Required keys:** img_path. **Added keys:** img, img_shape, ori_shape.

    Args:
        on_bad_image (str): ``'raise'`` or ``'skip'``. Defaults to 'raise'.
        decode_min_side (int, optional): the short side a reduced JPEG decode keeps, >= 1;
            None: full-size decoding. Defaults to None.
        **kwargs: ``LoadImageFromFile``'s ``to_float32``, ``color_type``,
            ``imdecode_backend`` and ``backend_args``. ``ignore_empty`` is refused (it skips
            bad images without a trace; use ``on_bad_image='skip'``), as is the deprecated
            ``file_client_args`` (use ``backend_args``).
    """

    def __init__(self, on_bad_image: str = 'raise', decode_min_side: Optional[int] = None,
                 **kwargs) -> None:
        name = type(self).__name__
        if decode_min_side is not None and (isinstance(decode_min_side, bool) or not isinstance(
                decode_min_side, int) or decode_min_side < 1):
            raise ValueError(f'{name}.decode_min_side: expected None or an int >= 1, '
                             f'got {decode_min_side!r}')
        if on_bad_image not in ON_BAD_IMAGE:
            raise ValueError(f'{name}.on_bad_image: expected one of {ON_BAD_IMAGE}, '
                             f'got {on_bad_image!r}')
        if kwargs.get('ignore_empty'):
            raise ValueError(f"{name}: ignore_empty=True would skip bad images silently; "
                             f"set on_bad_image='skip' to skip them with a count in the log")
        if kwargs.get('file_client_args') is not None:
            raise ValueError(f'{name}: file_client_args is deprecated by mmcv; '
                             f'use backend_args')
        super().__init__(**kwargs)
        if decode_min_side is not None and self.color_type != 'color':
            raise ValueError(f"{name}.decode_min_side: needs color_type='color', got "
                             f'{self.color_type!r}')
        self.decode_min_side = decode_min_side
        self.on_bad_image = on_bad_image
        self.num_skipped = 0

    def transform(self, results: dict) -> Optional[dict]:
        filename = results['img_path']
        try:
            img = self._load(filename)
        except OSError as err:
            if self.on_bad_image == 'raise':
                raise OSError(f"{err} (set on_bad_image='skip' in the pipeline's "
                              f'{type(self).__name__} step to skip bad images and count '
                              f'them in the log)') from err.__cause__
            self._count_skip(err)
            return None
        if self.to_float32:
            img = img.astype(np.float32)
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        results['ori_shape'] = img.shape[:2]
        return results

    def _load(self, filename: str) -> np.ndarray:
        """The decoded image, or an ``OSError`` that says what is wrong with the file."""
        try:
            content = fileio.get(filename, backend_args=self.backend_args)
        except Exception as err:
            raise OSError(f'cannot read image file {filename}: '
                          f'{type(err).__name__}: {err}') from err
        if not content:
            raise OSError(f'image file {filename} is empty (0 bytes)')
        cannot_decode = f'cannot decode image file {filename} (truncated or not an image)'
        try:
            img = self._decode(content)
        except Exception as err:
            raise OSError(f'{cannot_decode}: {type(err).__name__}: {err}') from err
        if img is None:  # OpenCV returns None rather than raising
            raise OSError(f'{cannot_decode}: the {self.imdecode_backend!r} decoder '
                          f'returned no image')
        return img

    def _decode(self, content: bytes) -> Optional[np.ndarray]:
        if self.decode_min_side is not None and content[:2] == JPEG_START:
            img = self._decode_reduced_jpeg(content)
            if img is not None:
                return img
        if self.imdecode_backend == 'pillow' and self.color_type in COLOR_FLAGS:
            img = self._decode_16bit_grey_with_pillow(content)
            if img is not None:
                return img
        return mmcv.imfrombytes(content, flag=self.color_type, backend=self.imdecode_backend)

    def _decode_reduced_jpeg(self, content: bytes) -> Optional[np.ndarray]:
        """The JPEG decoded by OpenCV at the smallest of 1/2, 1/4, 1/8 that keeps its short
        side >= ``decode_min_side`` (libjpeg's scaling in the DCT), (H, W, 3) uint8 BGR;
        None when not even 1/2 keeps it (then it is decoded in full)."""
        with Image.open(io.BytesIO(content)) as pil:
            ratio = min(pil.size) // self.decode_min_side  # the header's size: no decoding
        factor = next((f for f in (8, 4, 2) if f <= ratio), None)
        if factor is None:
            return None
        return cv2.imdecode(np.frombuffer(content, np.uint8), REDUCED_COLOR[factor])

    def _decode_16bit_grey_with_pillow(self, content: bytes) -> Optional[np.ndarray]:
        """A 16-bit grey image as (H, W, 3) uint8 (high byte); None for any other image."""
        with Image.open(io.BytesIO(content)) as pil:
            # Pillow < 10 opened 16-bit grey PNGs in mode 'I' (32-bit), later ones in 'I;16'
            if not (pil.mode.startswith('I;16') or (pil.mode == 'I' and pil.format == 'PNG')):
                return None
            if self.color_type == 'color':
                pil = ImageOps.exif_transpose(pil)
            grey = (np.asarray(pil).astype(np.uint32) >> 8).astype(np.uint8)
        return np.repeat(grey[:, :, None], 3, axis=2)

    def _count_skip(self, err: OSError) -> None:
        self.num_skipped += 1
        worker = torch.utils.data.get_worker_info()
        process = ('the main process' if worker is None else
                   f'dataloader worker {worker.id} (pid {os.getpid()})')
        print_log(f"{type(self).__name__} (on_bad_image='skip'): skipped a bad image: {err}; "
                  f'{self.num_skipped} bad image(s) skipped so far by {process}',
                  logger='current', level=logging.WARNING)

    def __repr__(self) -> str:
        return (f'{super().__repr__()[:-1]}, on_bad_image={self.on_bad_image!r}, '
                f'decode_min_side={self.decode_min_side!r})')
