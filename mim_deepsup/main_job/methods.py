"""The main job's methods: one table of what only we can say (a name, a label, a config, a
colour); everything else is read from the method's config.

From a config (``configs/main_job/<config>``) come:

- ``framework``: the algorithm (``ComposableMAE`` -> ``'MAE'``, ``ComposableSimMIM`` ->
  ``'SimMIM'``, ...);
- ``backbone``: its type, and ``vit``: whether it is a plain ViT, which the fine-tuning
  classifier and the tiny UperNet take (a Swin is not fine-tuned or segmented);
- ``techniques``: which of our techniques it uses, from the registered types in its model
  (``DeepMIM*`` -> ``'deepmim'``, ``DDAE*`` -> ``'ddae'``, ``LUT*`` -> ``'lut'``);
- ``baseline``: the method of the same framework and backbone with no technique, whose
  runs a technique's claims are judged against.

The blocks a technique supervises are read from the built model in the evaluate stage
(``stages.evaluate``). To add a method: a job config in ``configs/main_job/`` and a row
here.
"""
import os.path as osp
from dataclasses import dataclass
from functools import lru_cache
from typing import Dict, Optional, Tuple

from ..config_paths import config_root

#: registered type-name prefixes of each technique's components
TECHNIQUE_PREFIXES = {'DeepMIM': 'deepmim', 'DDAE': 'ddae', 'LUT': 'lut'}
#: the plain ViTs: mmpretrain's and mmseg's ViT take their converted weights
VITS = ('TappedMAEViT', 'TappedMaskFeatViT')


@dataclass(frozen=True)
class JobMethod:
    """One method of the job: ``name`` (on the command line), ``label`` (in the report),
    ``config`` (its file in ``configs/main_job/``) and ``colour`` (in the figures)."""
    name: str
    label: str
    config: str
    colour: str

    @property
    def path(self) -> str:
        return osp.join(config_root(), 'main_job', self.config)  # (absolute: as is)

    @property
    def facts(self) -> dict:
        """``framework``, ``backbone``, ``vit`` and ``techniques`` (a sorted tuple), read
        from the config."""
        return config_facts(self.path)


METHODS: Dict[str, JobMethod] = {m.name: m for m in (
    JobMethod('mae', 'MAE', 'mae_vit-tiny-p4_digits.py', 'black'),
    JobMethod('deepmim', 'DeepMIM', 'deepmim_vit-tiny-p4_digits.py', 'tab:blue'),
    JobMethod('ddae', 'DDAE', 'ddae_vit-tiny-p4_digits.py', 'tab:green'),
    JobMethod('lut', 'LUT', 'lut_vit-tiny-p4_digits.py', 'tab:red'),
    JobMethod('ddae-lut', 'DDAE + LUT', 'ddae-lut_vit-tiny-p4_digits.py', 'tab:purple'),
    JobMethod('maskfeat', 'MaskFeat', 'maskfeat_vit-tiny-p4_digits.py', 'tab:brown'),
    JobMethod('deepmim-maskfeat', 'MaskFeat + DeepMIM', 'deepmim_maskfeat_vit-tiny-p4_digits.py',
              'tab:cyan'),
    JobMethod('ddae-maskfeat', 'MaskFeat + DDAE', 'ddae_maskfeat_vit-tiny-p4_digits.py',
              'tab:olive'),
    JobMethod('simmim', 'SimMIM', 'simmim_swin-tiny-p4_digits.py', 'tab:orange'),
    JobMethod('deepmim-simmim', 'SimMIM + DeepMIM', 'deepmim_simmim_swin-tiny-p4_digits.py',
              'tab:pink'),
    JobMethod('ddae-simmim', 'SimMIM + DDAE', 'ddae_simmim_swin-tiny-p4_digits.py', 'gold'),
)}
DEFAULT_METHODS = ('mae', 'deepmim', 'ddae', 'lut')
SEG_CONFIG = 'upernet_vit-tiny-p4_digits-seg-64x64.py'


#: colours of methods added from the command line (``add_method``), in turn
EXTRA_COLOURS = ('tab:gray', 'darkgoldenrod', 'teal', 'crimson', 'indigo', 'lime')


def add_method(name: str, path: str) -> JobMethod:
    """Register a method of the job from any pretraining config (``--config NAME=PATH``):
    labelled by its name, judged against the registered method of its framework with no
    technique, like the others."""
    if name in METHODS and METHODS[name].config == osp.abspath(path):
        return METHODS[name]
    if name in METHODS:
        raise ValueError(f'--config {name}=...: {name} is already a method of the job; '
                         f'choose another name')
    if not osp.isfile(path):
        raise FileNotFoundError(f'--config {name}={path}: no such config file')
    METHODS[name] = JobMethod(name, name, osp.abspath(path),
                              EXTRA_COLOURS[len(METHODS) % len(EXTRA_COLOURS)])
    return METHODS[name]


def _types(value) -> Tuple[str, ...]:
    """Every ``type`` string in a nested config value."""
    if isinstance(value, dict):
        own = (value['type'], ) if isinstance(value.get('type'), str) else ()
        return own + tuple(t for v in value.values() for t in _types(v))
    if isinstance(value, (list, tuple)):
        return tuple(t for v in value for t in _types(v))
    return ()


@lru_cache(maxsize=None)
def config_facts(path: str) -> dict:
    """What the job reads off a pretraining config (see the module docstring)."""
    from mmengine.config import Config
    model = Config.fromfile(path).model.to_dict()
    types = [t.split('.')[-1] for t in _types(model)]  # 'mmpretrain.X' -> 'X'
    techniques = sorted({technique for t in types for prefix, technique in
                         TECHNIQUE_PREFIXES.items() if t.startswith(prefix)})
    backbone = model['backbone']['type'].split('.')[-1]
    return dict(framework=model['type'].split('.')[-1].replace('Composable', ''),
                backbone=backbone, vit=backbone in VITS, techniques=tuple(techniques))


def label(name: str) -> str:
    return METHODS[name].label if name in METHODS else name


def colour(name: str) -> Optional[str]:
    return METHODS[name].colour if name in METHODS else None


def baseline(name: str) -> Optional[str]:
    """The method ``name``'s techniques are judged against: the registered method of the
    same framework and backbone with no technique (None for such a method itself)."""
    facts = METHODS[name].facts
    if not facts['techniques']:
        return None
    for other in METHODS.values():
        theirs = other.facts
        if not theirs['techniques'] and (theirs['framework'], theirs['backbone']) == \
                (facts['framework'], facts['backbone']):
            return other.name
    raise ValueError(f'{name}: no registered method of framework {facts["framework"]} '
                     f'with a {facts["backbone"]} and no technique to judge it against; '
                     f'add one to mim_deepsup/main_job/methods.py')
