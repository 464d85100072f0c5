"""MAE (and PixMIM, MILAN-style feature targets) with supervision components, and the
multi-view step LUT's components ask for."""
from typing import Dict, List, Optional, Sequence, Union

import torch
from mmpretrain.models import MAE
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from ..core.composable import ComposableMixin
from ..core.head_loss import call_head_loss, pixel_target
from ..core.state import MIMState
from ..core.validation import check_bool, check_number
from ..core.view_masking import check_view_mask_ratio, disjoint_view_masks, mask_noise


@MODELS.register_module()
class ComposableMAE(ComposableMixin, MAE):
    """mmpretrain's :class:`MAE` plus any number of extra supervision components.

    The student's masked pass runs once (:meth:`TappedMAEViT.forward_masked`) and returns
    the block outputs every component asked for; the EMA teacher's unmasked pass runs once
    if any component needs it; MAE's decoder (``neck``) and pixel head (``head``) give MAE's
    term; each component adds its named terms. With no component the losses and gradients
    are MAE's, bit for bit. With components, MAE's term is named ``loss_mim``, so that
    mmengine's logged ``loss`` is the optimised total.

    Several views (LUT, docs/methods.md): when a component reads V > 1 views of each
    image, the data gives a list of V (B, 3, H, W) batches (mmpretrain's ``MultiView``).
    One noise draw masks them with disjoint visible sets (:func:`disjoint_view_masks`: the
    views of an image see different patches), the student encodes all V x B masked images
    in one batched pass and the teacher all unmasked ones in another; only the first view
    (the MIM view) is decoded for ``loss_mim``. The state's single-view fields describe
    the first view; ``view_latents`` (V, B, 1 + K, C) and ``view_teacher_tokens``
    (V, B, 1 + N, C) hold every view.

    Args:
        backbone (dict): a ``TappedMAEViT``.
        neck (dict, optional): MAE's decoder, e.g. ``MAEPretrainDecoder``. Defaults to None.
        head (dict, optional): MAE's head, e.g. ``MAEPretrainHead``; a loss that is
            ``ReadsState`` (DDAE's) is also given the step's state. Defaults to None.
        supervisions (dict[str, dict], optional): extra components by name, each a
            :class:`BaseSupervision` config. Defaults to None.
        teacher (dict, optional): an :class:`EMATeacher` config, built when given or when
            a component needs a teacher. Defaults to None.
        batch_views (bool): encode the views in one batched pass. False runs one pass per
            view, as the LUT authors' code does, to compare against; the losses are the
            same up to floating-point rounding. Defaults to True.
        **kwargs: the rest of :class:`MAE`'s arguments. ``target_generator``: a frozen
            module whose output on the images is the final decoder's target instead of
            their pixels, run once per step without gradient. (B, N, D) features (CLIP,
            DINO, HOG) are shared as ``state.target``: ``head.loss(pred, target, mask)``
            as in mmpretrain's MILAN and MaskFeat, with a feature head such as ``MIMHead``.
            A generator that gives images (``gives_images``, PixMIM's low-frequency ones)
            is shared as ``state.pixels``: a pixel head's target is made of them.
    """

    tap_layout = 'visible'
    component_layouts = (None, 'visible')

    def __init__(self, backbone: dict, neck: Optional[dict] = None,
                 head: Optional[dict] = None, supervisions: Optional[Dict[str, dict]] = None,
                 teacher: Optional[dict] = None, batch_views: bool = True,
                 **kwargs) -> None:
        batch_views = check_bool(batch_views, 'model.batch_views')
        super().__init__(backbone, supervisions, teacher, neck=neck, head=head, **kwargs)
        self.batch_views = batch_views

    def check_parts(self) -> None:
        """What the target generator must agree on with the backbone and the head, checked
        before the components, which take its width."""
        self.gives_images = self.with_target_generator and getattr(
            self.target_generator, 'gives_images', False)
        if not self.with_target_generator:
            return
        generator, facts = self.target_generator, self.backbone.facts()
        if self.gives_images and not hasattr(self.head, 'construct_target'):
            raise ValueError(f'model.head: {type(generator).__name__} gives images, whose '
                             f'patches are the target of a pixel head (MAEPretrainHead); '
                             f'got {type(self.head).__name__}')
        patch_size = getattr(generator, 'patch_size', None)
        if patch_size is not None and patch_size != facts['patch_size']:
            raise ValueError(f'model.target_generator.patch_size: {patch_size}, the '
                             f'backbone\'s patches are {facts["patch_size"]} px; they must '
                             f'match')
        if hasattr(generator, 'check_input_size'):
            generator.check_input_size(tuple(side * facts['patch_size']
                                             for side in facts['patch_grid']))

    def check_components(self) -> None:
        """What the parts must agree on once the components are known, or training would be
        silently wrong."""
        facts = self.backbone.facts()
        mask_ratio = check_number(self.backbone.mask_ratio, 'model.backbone.mask_ratio', 0, 1,
                                  open_min=True, open_max=True)
        check_view_mask_ratio(mask_ratio, self.num_views, key='model.backbone.mask_ratio')
        last = len(self.backbone.layers) - 1
        if self.needs_teacher and list(getattr(self.backbone, 'out_indices', [last])) != [last]:
            raise ValueError(f'model.backbone.out_indices: must be [-1] when a component '
                             f'reads the teacher\'s final tokens, got '
                             f'{self.backbone.out_indices}')
        generator = self.target_generator if self.with_target_generator else None
        num_patches = getattr(generator, 'num_patches', None)
        if num_patches is not None and num_patches != facts['num_patches']:
            raise ValueError(f'model.target_generator: its patch grid has {num_patches} '
                             f'patches, the backbone\'s {facts["num_patches"]}; they must '
                             f'match (image size / patch size)')
        channels = getattr(generator, 'out_channels', None)
        pred = getattr(getattr(self.neck, 'decoder_pred', None), 'out_features', None)
        if channels is not None and pred is not None and channels != pred:
            raise ValueError(f'model.neck.predict_feature_dim: the decoder predicts {pred} '
                             f'values per patch, the target generator gives {channels}')

    def component_defaults(self) -> Dict[str, object]:
        """The backbone's sizes, the head config and the target generator's width."""
        generator = self.target_generator if self.with_target_generator else None
        return dict(super().component_defaults(),
                    target_channels=getattr(generator, 'out_channels', None))

    def _views(self, inputs: Union[torch.Tensor, Sequence[torch.Tensor]]) -> List[torch.Tensor]:
        """The list of V (B, 3, H, W) view batches, checked against what components read."""
        views = [inputs] if isinstance(inputs, torch.Tensor) else list(inputs)
        if len(views) != self.num_views:
            raise ValueError(
                f'the data gives {len(views)} view(s) of each image, model.supervisions read '
                f'{self.num_views}: use mmpretrain\'s MultiView with num_views summing to '
                f'{self.num_views} in train_dataloader.dataset.pipeline' if self.num_views > 1
                else f'the data gives {len(views)} views of each image, but no component in '
                f'model.supervisions reads more than one: drop MultiView from the pipeline')
        return views

    def _student_pass(self, views: List[torch.Tensor]):
        """The student's masked pass over every view: ((latent, mask, ids_restore), taps),
        each (V * B, ...) view-major."""
        batch, num_patches = len(views[0]), self.backbone.num_patches
        num_visible = int(num_patches * (1 - self.backbone.mask_ratio))
        # MAE's draw for one process; under DDP each image's rows of the global draw
        noise = mask_noise(batch, num_patches, views[0].device)  # (B, N)
        ids_restore = disjoint_view_masks(noise, len(views), num_visible)  # (V * B, N)
        if len(views) == 1 or self.batch_views:
            batched = views[0] if len(views) == 1 else torch.cat(views)  # (V * B, 3, H, W)
            return self.backbone.forward_masked(batched, ids_restore, num_visible, self.taps)
        passes = [self.backbone.forward_masked(view, ids, num_visible, self.taps)
                  for view, ids in zip(views, ids_restore.split(batch))]
        outputs = tuple(torch.cat(parts) for parts in zip(*(out for out, _ in passes)))
        return outputs, {b: torch.cat([taps[b] for _, taps in passes]) for b in self.taps}

    def _teacher_pass(self, views: List[torch.Tensor]) -> torch.Tensor:
        """(V * B, 1 + N, C): the teacher's final-normed tokens of every unmasked view."""
        if len(views) == 1 or self.batch_views:
            return self.teacher_tokens(torch.cat(views) if len(views) > 1 else views[0])
        return torch.cat([self.teacher_tokens(view) for view in views])

    def compute_state(self, inputs: Union[torch.Tensor, Sequence[torch.Tensor]],
                      data_samples=None) -> MIMState:
        """The student's masked pass (once) and, if asked for, the teacher's pass and the
        target generator (once each), over every view; the state's single-view fields
        describe the first view."""
        views = self._views(inputs)
        num_views, batch = len(views), len(views[0])
        (latent, mask, ids_restore), taps = self._student_pass(views)
        target = None
        if self.with_target_generator:
            with torch.no_grad():
                target = self.target_generator(views[0])
        state = self.new_state(
            views[0], mask[:batch], data_samples,
            pixels=target if self.gives_images else views[0], latent=latent[:batch],
            ids_restore=ids_restore[:batch], taps={b: t[:batch] for b, t in taps.items()},
            target=None if self.gives_images else target,
            view_latents=latent.unflatten(0, (num_views, batch)))
        if self.needs_teacher:
            tokens = self._teacher_pass(views)  # (V * B, 1 + N, C)
            state.teacher_tokens = tokens[:batch]
            state.view_teacher_tokens = tokens.unflatten(0, (num_views, batch))
        return state

    def loss(self, inputs: Union[torch.Tensor, List[torch.Tensor]],
             data_samples: List[DataSample], **kwargs) -> Dict[str, torch.Tensor]:
        state = self.compute_state(inputs, data_samples)
        pred = self.neck(state.latent, state.ids_restore)  # (B, N, p * p * 3) or (B, N, D)
        # MIMHead.loss with a target generator's features (MILAN, MaskFeat); otherwise
        # MAEPretrainHead.loss, its pixel target shared with the components
        target = pixel_target(state, self.head) if state.target is None else state.target
        loss_module = self.head.loss_module
        loss = call_head_loss(loss_module, loss_module, pred, target, state.mask, state=state)
        return self.add_component_losses({'loss': loss}, state)
