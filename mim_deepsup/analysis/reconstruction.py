"""Reconstructions of a pretraining checkpoint: the final decoder's and each pixel-predicting
auxiliary decoder's, for one mask, with DDAE's dynamic weight map of that mask."""
from typing import Dict, List, Optional

import numpy as np
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmpretrain.registry import MODELS

from ..checkpoints.backbone_converter import load_checkpoint
from ..core.head_loss import pixel_target
from ..methods.ddae import DistanceWeighting


def _checkpoint_and_config(path: str):
    checkpoint = load_checkpoint(path)
    text = checkpoint.get('meta', {}).get('cfg')
    if not isinstance(text, str) or 'state_dict' not in checkpoint:
        raise ValueError(f'{path}: expected one of our pretraining checkpoints (a Runner '
                         f'checkpoint with its config and decoders)')
    return checkpoint, Config.fromstring(text, '.py')


def pretraining_config(path: str):
    """The config one of our Runner checkpoints carries (mmengine ``Config``)."""
    return _checkpoint_and_config(path)[1]


def _build(checkpoint: dict, cfg) -> torch.nn.Module:
    with DefaultScope.overwrite_default_scope('mmpretrain'):  # its parts are unscoped
        model = MODELS.build(cfg.model)
    model.load_state_dict(checkpoint['state_dict'])
    model.eval()
    return model


def build_pretraining_model(path: str) -> torch.nn.Module:
    """The whole pretraining model of one of our Runner checkpoints (decoders, heads and
    target generator included), of any of our algorithms, rebuilt from the config the
    checkpoint carries and loaded strictly, in eval mode."""
    return _build(*_checkpoint_and_config(path))


def predicts_pixels(model_cfg) -> bool:
    """Whether :func:`reconstruct` can show the predictions of the model of ``model_cfg``:
    ours of the MAE family, its final decoder predicting pixels."""
    return model_cfg.type == 'ComposableMAE' and not model_cfg.get('target_generator')


def load_pretraining_model(path: str) -> torch.nn.Module:
    """:func:`build_pretraining_model` of a checkpoint whose model predicts pixels, the
    models :func:`reconstruct` shows."""
    checkpoint, cfg = _checkpoint_and_config(path)
    if not predicts_pixels(cfg.model):
        what = 'target generator' if cfg.model.get('target_generator') else 'token targets'
        raise ValueError(f'{path}: a {cfg.model.type} with a {what} predicts no pixels to '
                         f'show; reconstructions need an MAE-family model with pixel targets')
    return _build(checkpoint, cfg)


def _to_pixels(head, pred: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
    """(B, N, p*p*3) predictions in the head's target space -> pixels of the input's
    normalisation: norm_pix targets are per-patch standardised, so each patch takes back
    the mean and variance of the original patch (as MAE's visualisation does)."""
    if head.norm_pix:
        target = head.patchify(images)  # (B, N, p*p*3)
        mean, var = target.mean(-1, keepdim=True), target.var(-1, keepdim=True)
        pred = pred * (var + 1.e-6)**.5 + mean
    return pred


@torch.no_grad()
def reconstruct(model: torch.nn.Module, images: torch.Tensor, seed: int = 0,
                progress: float = 1.0) -> Dict[str, object]:
    """One masked pass of ``model`` over ``images`` (B, 3, H, W) with the random mask of
    ``seed``, as in training.

    Returns:
        dict: ``mask`` (B, N) 1 = removed; ``images`` dict name -> (B, 3, H, W) pixels:
        'final' and one 'aux<block>' per pixel-predicting auxiliary decoder, visible
        patches pasted from the input; ``errors`` name -> (B,) mean squared error on the
        masked patches in the head's target space; ``weights`` name -> (B, N) DDAE's
        dynamic weights at training progress ``progress`` (one per distance-weighted loss,
        named by module and depth).
    """
    views = getattr(model, 'num_views', 1)  # LUT reads 2 views: the same images twice here
    with torch.random.fork_rng(devices=[]):  # the caller's random state stays as it was
        torch.manual_seed(seed)
        state = model.compute_state(images if views == 1 else [images] * views)
    head = model.head
    target = pixel_target(state, head)  # (B, N, p*p*3)
    preds = {'final': model.neck(state.latent, state.ids_restore)}
    for name, component in model.supervisions.items():
        # auxiliary decoders with pixel targets (DeepMIM's); DDAE's predict features
        if getattr(component, 'pixel_target', False) and hasattr(component, 'decoders'):
            for block, pred in component.decoders(state.taps, state.ids_restore).items():
                preds[f'{name}.l{block}'] = pred
    mask = state.mask  # (B, N)
    keep = mask.unsqueeze(-1)  # 1 = show the prediction
    original = head.patchify(images)
    result = dict(mask=mask, images={}, errors={}, weights={})
    for name, pred in preds.items():
        error = ((pred - target)**2).mean(-1)  # (B, N)
        result['errors'][name] = (error * mask).sum(1) / mask.sum(1).clamp(min=1)
        pixels = _to_pixels(head, pred, images) * keep + original * (1 - keep)
        result['images'][name] = head.unpatchify(pixels)
    state.progress = progress  # the weights at this progress; the distance map once
    for name, module in model.named_modules():
        if isinstance(module, DistanceWeighting):
            short = name.replace('supervisions.', '').replace('.losses', '').replace(
                '.loss_module', '') or 'loss'  # 'head', 'ddae.l2', ...
            result['weights'][f'{short} (depth {module.depth:.2f})'] = module.weights(state)
    return result


def simmim_mask_generator(cfg) -> dict:
    """The ``SimMIMMaskGenerator`` config of a SimMIM checkpoint's training pipeline."""
    pipeline = cfg.train_dataloader.dataset.pipeline
    found = [t for t in pipeline if t.get('type') in ('SimMIMMaskGenerator',
                                                       'mmpretrain.SimMIMMaskGenerator')]
    if len(found) != 1:
        raise ValueError(f'train_dataloader.dataset.pipeline: expected one '
                         f'SimMIMMaskGenerator, found {len(found)}')
    return dict(found[0])


@torch.no_grad()
def reconstruct_simmim(model: torch.nn.Module, images: torch.Tensor, mask_generator: dict,
                       seed: int = 0) -> Dict[str, object]:
    """SimMIM's masked pass over ``images`` (B, 3, H, W), its masks drawn by
    ``mask_generator`` (a ``SimMIMMaskGenerator`` config) with ``seed``.

    Returns:
        dict: ``mask`` (B, N) 1 = masked, on the backbone's patch grid; ``images``
        {'final': (B, 3, H, W)}: the linear decoder's pixels on the masked patches, the
        input on the rest; ``errors`` {'final': (B,)}: mean squared error of the masked
        pixels (SimMIM's target is the normalised image itself).
    """
    from mmpretrain.registry import TRANSFORMS
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        generator = TRANSFORMS.build(mask_generator)
    state = np.random.get_state()  # the caller's random state stays as it was
    try:
        np.random.seed(seed)
        masks = np.stack([generator.transform({})['mask'] for _ in images])  # (B, h, w)
    finally:
        np.random.set_state(state)
    mask = torch.from_numpy(masks).to(images.device)
    patch = images.shape[-1] // mask.shape[-1]
    latent = model.backbone(images, mask=mask)
    pred = model.neck(latent[0])  # (B, 3, H, W)
    shown = mask.repeat_interleave(patch, 1).repeat_interleave(patch, 2).unsqueeze(1).to(
        images.dtype)  # (B, 1, H, W)
    error = ((pred - images)**2 * shown).sum((1, 2, 3)) / (shown.sum((1, 2, 3)) * 3)
    return dict(mask=mask.flatten(1).float(), images=dict(final=pred * shown + images *
                                                          (1 - shown)),
                errors=dict(final=error))


def reconstruct_any(model: torch.nn.Module, cfg, images: torch.Tensor,
                    seed: int = 0) -> Optional[Dict[str, object]]:
    """The final decoder's reconstructions of ``images`` by ``model`` (built from ``cfg``,
    the config its checkpoint carries) under the masks of ``seed``: :func:`reconstruct`
    for the MAE family with pixel targets, :func:`reconstruct_simmim` for SimMIM (its
    pipeline's masks); None for a model that predicts no pixels (HOG, features, codes)."""
    if predicts_pixels(cfg.model):
        return reconstruct(model, images, seed=seed)
    if cfg.model.type == 'ComposableSimMIM':
        return reconstruct_simmim(model, images, simmim_mask_generator(cfg), seed)
    return None


def denormalise(images: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) normalised as in pretraining -> [0, 1] RGB for display."""
    from .images import MEAN, STD
    return ((images * STD.to(images) + MEAN.to(images)) / 255).clamp(0, 1)


def figure_rows(images: torch.Tensor, result: dict, patch_size: int) -> List[List[tuple]]:
    """Per image: (title, HxWx3 or hxw array, colour map) panels in display order."""
    mask = result['mask']
    b, n = mask.shape
    side = int(round(n**0.5))
    masked = images * (1 - mask.view(b, 1, side, side).to(images).repeat_interleave(
        patch_size, 2).repeat_interleave(patch_size, 3))
    rows = []
    for i in range(b):
        row = [('original', denormalise(images[i:i + 1])[0].permute(1, 2, 0).cpu().numpy(), None),
               ('masked input', denormalise(masked[i:i + 1])[0].permute(1, 2, 0).cpu().numpy(),
                None)]
        for name, recon in result['images'].items():
            row.append((f'{name}\nMSE {result["errors"][name][i]:.3f}',
                        denormalise(recon[i:i + 1])[0].permute(1, 2, 0).cpu().numpy(), None))
        for name, weights in result['weights'].items():
            row.append((f'DDAE weights\n{name}', weights[i].view(side, side).cpu().numpy(),
                        'magma'))
        rows.append(row)
    return rows


def write_reconstruction(model: torch.nn.Module, images: torch.Tensor, paths: List[str],
                         out_dir: str, seed: int = 0, progress: float = 1.0,
                         title: str = '') -> List[str]:
    """Reconstruct ``images`` and write ``reconstruction.png`` (one row per image) and
    ``reconstruction.json`` (masked-patch MSE per image and decoder, the weight maps)
    into ``out_dir``; returns their paths."""
    import os.path as osp

    from .reports import figure, save_figure, write_json
    result = reconstruct(model, images, seed=seed, progress=progress)
    rows = figure_rows(images, result, model.backbone.patch_embed.projection.kernel_size[0])
    fig, _ = figure(1.6 * len(rows[0]), 1.8 * len(rows))
    fig.clf()
    for i, row in enumerate(rows):
        for j, (name, array, cmap) in enumerate(row):
            ax = fig.add_subplot(len(rows), len(row), i * len(row) + j + 1)
            ax.imshow(array, cmap=cmap, interpolation='nearest')
            ax.set_axis_off()
            if i == 0 or 'MSE' in name:  # below the first row: only the MSE changes
                ax.set_title(name if i == 0 else name.split('\n')[-1], fontsize=7)
    if title:
        fig.suptitle(title, fontsize=9)
    png, report = osp.join(out_dir, 'reconstruction.png'), osp.join(out_dir,
                                                                    'reconstruction.json')
    save_figure(png, fig)
    write_json(report, dict(
        images=list(paths), seed=seed, progress=progress,
        masked_mse={k: v.tolist() for k, v in result['errors'].items()},
        weights={k: v.tolist() for k, v in result['weights'].items()}))
    return [png, report]
