"""MAE whose loss is composed of named supervision components."""
import copy
from typing import Dict, List, Optional, Sequence, Union

import torch
from mmpretrain.models import MAE
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from ...validation import check_bool, check_number
from ..utils import MIMState, check_view_mask_ratio, disjoint_view_masks, mask_noise
from .supervisions_mixin import SupervisionsMixin


@MODELS.register_module()
class ComposableMAE(SupervisionsMixin, MAE):
    """mmpretrain's :class:`MAE` plus any number of extra supervision components.

    One step (../shared/DESIGN.md): the student's masked pass runs once and records the
    block outputs every component asked for; the EMA teacher's unmasked pass runs once if
    any component needs it; MAE's decoder (``neck``) and pixel head (``head``) give the
    ``loss`` term exactly as in MAE; each component adds its named terms. With no component
    the losses and gradients are MAE's, bit for bit. With components, MAE's term is named
    ``loss_mim``, so that mmengine's logged ``loss`` is the optimised total.

    Several views (LUT): when a component reads V > 1 views of each image, the data gives
    a list of V (B, 3, H, W) batches (mmpretrain's ``MultiView``). One noise draw masks
    them with disjoint visible sets (:func:`disjoint_view_masks`), the student encodes all
    V x B masked images in one batched pass and the teacher all unmasked ones in another;
    only the first view (the MIM view) is decoded for ``loss_mim``.

    Args:
        backbone (dict): a backbone with ``forward_taps`` (e.g. ``TappedMAEViT``).
        neck (dict): MAE's decoder, e.g. ``MAEPretrainDecoder``.
        head (dict): MAE's head, e.g. ``MAEPretrainHead``.
        supervisions (dict[str, dict], optional): extra components by name; each builds a
            :class:`BaseSupervision`. A component named ``aux6`` that returns
            ``{'loss': x}`` is logged as ``loss_aux6``, ``{'loss_bc': y}`` as
            ``loss_aux6_bc``.
        teacher (dict, optional): an :class:`EMATeacher` config (``sources``, momenta).
            Built when given, or with its defaults when a component needs a teacher.
        target_generator (dict, optional): mmpretrain's argument: a frozen module whose
            output on the images (e.g. (B, N, D) CLIP features) is the target of the final
            decoder, ``head.loss(pred, target, mask)`` as in mmpretrain's MILAN, instead of
            the images. Run once per step without gradient and shared with the components
            as ``state.target``.
        batch_views (bool): encode the views in one batched pass (default). False runs one
            pass per view, as the LUT authors' code does, to compare against; the losses
            are the same up to floating-point rounding.
        **kwargs: the rest of :class:`MAE`'s arguments.
    """

    tap_layout = 'visible'

    def __init__(self,
                 backbone: dict,
                 neck: Optional[dict] = None,
                 head: Optional[dict] = None,
                 supervisions: Optional[Dict[str, dict]] = None,
                 teacher: Optional[dict] = None,
                 batch_views: bool = True,
                 **kwargs) -> None:
        head_cfg = copy.deepcopy(head)
        if isinstance(head, dict):
            # built here, not by MAE.__init__, so that its errors (and its loss's, such as
            # 'DistanceWeightedPixelLoss.depth: ...') name the key; MAE takes the module.
            # MAE's heads (a loss, no parameters) draw no random numbers ahead of the
            # backbone's when built first, and MAE still registers the modules in order.
            try:
                head = MODELS.build(head)
            except (ValueError, TypeError, FileNotFoundError, KeyError) as e:
                if type(e) not in (ValueError, TypeError, FileNotFoundError, KeyError):
                    raise  # a subclass that may take other arguments: as it is
                message = str(e.args[0]) if len(e.args) == 1 else str(e)
                loss = head.get('loss')
                loss_type = loss.get('type') if isinstance(loss, dict) else None
                loss_type = getattr(loss_type, '__name__', loss_type)
                key = ('model.head.loss' if isinstance(loss_type, str)
                       and message.startswith(loss_type) else 'model.head')
                raise type(e)(f'{key}: {message}') from e
        super().__init__(backbone=backbone, neck=neck, head=head, **kwargs)
        self._head_cfg = head_cfg
        self._check_target_generator()
        self._setup_supervisions(supervisions, teacher)
        self.batch_views = check_bool(batch_views, 'model.batch_views')
        check_number(self.backbone.mask_ratio, 'model.backbone.mask_ratio', 0, 1,
                     open_min=True, open_max=True)
        check_view_mask_ratio(self.backbone.mask_ratio, self.num_views,
                              key='model.backbone.mask_ratio')
        grid = getattr(getattr(self.head, 'loss_module', None), 'grid', None)
        if grid is not None and grid != self.backbone.facts()['patch_grid']:
            raise ValueError(f'model.head.loss.grid: expected the backbone\'s patch grid '
                             f'{self.backbone.facts()["patch_grid"]} (image size / patch '
                             f'size), got {grid}')
        last = len(self.backbone.layers) - 1
        if self.needs_teacher and list(getattr(self.backbone, 'out_indices', [last])) != [last]:
            raise ValueError(f'model.backbone.out_indices must be [-1] when a component reads '
                             f'the teacher\'s final tokens, got {self.backbone.out_indices}')

    def _check_target_generator(self) -> None:
        """A target generator's patch grid and width must fit the backbone and decoder."""
        generator = self.target_generator if self.with_target_generator else None
        num_patches = getattr(generator, 'num_patches', None)
        if num_patches is not None and num_patches != self.backbone.facts()['num_patches']:
            raise ValueError(f'model.target_generator: its patch grid has {num_patches} '
                             f'patches, the backbone\'s {self.backbone.facts()["num_patches"]}; '
                             f'they must match (image size / patch size)')
        channels = getattr(generator, 'out_channels', None)
        pred = getattr(getattr(self.neck, 'decoder_pred', None), 'out_features', None)
        if channels is not None and pred is not None and channels != pred:
            raise ValueError(f'model.neck.predict_feature_dim: the decoder predicts {pred} '
                             f'values per patch, the target generator gives {channels}')

    def component_defaults(self) -> Dict[str, object]:
        """The backbone's sizes, MAE's head config and the target generator's width."""
        generator = self.target_generator if self.with_target_generator else None
        return dict(super().component_defaults(), head=copy.deepcopy(self._head_cfg),
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
        batch, num_patches = len(views[0]), self.backbone.facts()['num_patches']
        num_visible = int(num_patches * (1 - self.backbone.mask_ratio))
        # MAE's draw for one process; under DDP each image's rows of the global draw
        noise = mask_noise(batch, num_patches, views[0].device)  # (B, N)
        ids_restore = disjoint_view_masks(noise, len(views), num_visible)  # (V * B, N)
        if len(views) == 1 or self.batch_views:
            batched = views[0] if len(views) == 1 else torch.cat(views)  # (V * B, 3, H, W)
            return self.backbone.forward_taps(batched, self.taps,
                                              ids_restore=ids_restore, num_visible=num_visible)
        passes = [self.backbone.forward_taps(view, self.taps, ids_restore=ids,
                                             num_visible=num_visible)
                  for view, ids in zip(views, ids_restore.split(batch))]
        outputs = tuple(torch.cat(parts) for parts in zip(*(out for out, _ in passes)))
        return outputs, {b: torch.cat([taps[b] for _, taps in passes]) for b in self.taps}

    def _teacher_pass(self, views: List[torch.Tensor]) -> torch.Tensor:
        """(V * B, 1 + N, C): the teacher's final-normed tokens of every unmasked view."""
        teacher = self.teacher['backbone']
        with torch.no_grad():
            if len(views) == 1:
                return teacher(views[0], mask=None)[0]
            if self.batch_views:
                return teacher(torch.cat(views), mask=None)[0]
            return torch.cat([teacher(view, mask=None)[0] for view in views])

    def compute_state(self, inputs: Union[torch.Tensor, Sequence[torch.Tensor]],
                      data_samples=None) -> MIMState:
        """The student's masked pass (once) and, if asked for, the teacher's pass (once),
        each over every view; the state's single-view fields describe the first view."""
        views = self._views(inputs)
        num_views, batch = len(views), len(views[0])
        (latent, mask, ids_restore), taps = self._student_pass(views)
        state = MIMState(inputs=views[0], latent=latent[:batch], mask=mask[:batch],
                         ids_restore=ids_restore[:batch],
                         taps={b: t[:batch] for b, t in taps.items()}, progress=self.progress,
                         data_samples=data_samples,
                         view_latents=latent.unflatten(0, (num_views, batch)))
        if self.with_target_generator:
            with torch.no_grad():
                state.target = self.target_generator(views[0])
        if self.needs_teacher:
            tokens = self._teacher_pass(views)  # (V * B, 1 + N, C)
            state.teacher_tokens = tokens[:batch]
            state.view_teacher_tokens = tokens.unflatten(0, (num_views, batch))
        return state

    def loss(self, inputs: Union[torch.Tensor, List[torch.Tensor]],
             data_samples: List[DataSample],
             **kwargs) -> Dict[str, torch.Tensor]:
        state = self.compute_state(inputs, data_samples)
        pred = self.neck(state.latent, state.ids_restore)  # (B, N, p*p*3)
        target = state.inputs if state.target is None else state.target
        # MAE's own key without components; with them mmengine's `loss` is the total
        key = 'loss_mim' if self.supervisions else 'loss'
        losses = {key: self.head.loss(pred, target, state.mask)}
        return self.add_component_losses(losses, state)
