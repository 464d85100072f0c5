"""Checks of config values, run when a component is built.

Each check returns the value it accepted (converted where that helps, e.g. a number to
``float``) or raises an error whose message starts with the config key, then says what
was expected and what was given: ``TypeError`` for a value of the wrong kind,
``ValueError`` for one out of range, ``FileNotFoundError`` for a missing file::

    weight = check_number(weight, 'weight', minimum=0)
    # TypeError:  weight: expected a number >= 0, got 'x'
    # ValueError: weight: expected a number >= 0, got -1
"""
import math
import os.path as osp
import re
from numbers import Integral, Real
from typing import Collection, Mapping, Optional, Sequence, Tuple


def _range(minimum: Optional[float], maximum: Optional[float], open_min: bool,
           open_max: bool) -> str:
    """'in (0, 1]', '>= 0', ... ; '' without bounds."""
    if minimum is not None and maximum is not None:
        return (f'in {"(" if open_min else "["}{minimum:g}, {maximum:g}'
                f'{")" if open_max else "]"}')
    if minimum is not None:
        return f'{">" if open_min else ">="} {minimum:g}'
    if maximum is not None:
        return f'{"<" if open_max else "<="} {maximum:g}'
    return ''


def _in_range(value: float, minimum: Optional[float], maximum: Optional[float],
              open_min: bool, open_max: bool) -> bool:
    if minimum is not None and (value <= minimum if open_min else value < minimum):
        return False
    return maximum is None or (value < maximum if open_max else value <= maximum)


def check_number(value, key: str, minimum: Optional[float] = None,
                 maximum: Optional[float] = None, open_min: bool = False,
                 open_max: bool = False) -> float:
    """A finite real number (not a bool) within the bounds, as a float."""
    bounds = _range(minimum, maximum, open_min, open_max)
    expected = f'a number {bounds}'.rstrip() if bounds else 'a finite number'
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f'{key}: expected {expected}, got {value!r}')
    if not math.isfinite(value) or not _in_range(value, minimum, maximum, open_min, open_max):
        raise ValueError(f'{key}: expected {expected}, got {value!r}')
    return float(value)


def check_int(value, key: str, minimum: Optional[int] = None) -> int:
    """An int (not a bool) >= ``minimum``."""
    expected = 'an int' + (f' >= {minimum}' if minimum is not None else '')
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(f'{key}: expected {expected}, got {value!r}')
    if minimum is not None and value < minimum:
        raise ValueError(f'{key}: expected {expected}, got {value!r}')
    return int(value)


def check_numbers(values, key: str, count: Optional[int] = None, **bounds) -> Tuple[float, ...]:
    """A list (or tuple) of ``count`` numbers, each checked by :func:`check_number` with
    ``bounds`` and named ``key[i]``."""
    what = f'{count} numbers' if count is not None else 'numbers'
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise TypeError(f'{key}: expected a list of {what}, got {values!r}')
    if count is not None and len(values) != count:
        raise ValueError(f'{key}: expected a list of {what}, got {len(values)}: {values!r}')
    return tuple(check_number(v, f'{key}[{i}]', **bounds) for i, v in enumerate(values))


def check_bool(value, key: str) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f'{key}: expected True or False, got {value!r}')
    return value


def check_choice(value, key: str, choices: Collection) -> object:
    """One of ``choices`` (compared with ``==``)."""
    if value not in choices:
        raise ValueError(f'{key}: expected one of {", ".join(repr(c) for c in choices)}, '
                         f'got {value!r}')
    return value


def check_dict(value, key: str, what: str = 'a dict', allow_none: bool = True):
    """A dict (mmengine's ConfigDict included), or None if ``allow_none``; ``what`` says
    which dict, e.g. ``"a dict of DeepMIMDecoders arguments"``."""
    if value is None and allow_none:
        return value
    if not isinstance(value, dict):
        raise TypeError(f'{key}: expected {what}, got {value!r}')
    return value


def check_file(path, key: str, what: str = 'file') -> str:
    """The path of an existing local file."""
    if not isinstance(path, str):
        raise TypeError(f'{key}: expected the path of a {what} (str), got {path!r}')
    if not osp.isfile(path):
        raise FileNotFoundError(f'{key}: no such {what} {path!r}')
    return path


# a message that starts with the inner config's key, e.g. 'taps[1]: ...'
_INNER_KEY = re.compile(r'[A-Za-z_]\w*(\[\d+\])*(\.[A-Za-z_]\w*(\[\d+\])*)*: ')


def build(registry, cfg, key: str, default_args: Optional[dict] = None):
    """``registry.build(cfg)``, with the config ``key`` put in front of the message of a
    ``TypeError``, ``ValueError``, ``KeyError`` or ``FileNotFoundError`` raised while
    building: the one place where a nested component's error learns where it sits."""
    if isinstance(cfg, Mapping) and 'type' not in cfg:
        raise TypeError(f"{key}: expected a config with a 'type', got {dict(cfg)!r}")
    try:
        return registry.build(cfg, default_args=default_args)
    except (TypeError, ValueError, KeyError, FileNotFoundError) as e:
        if type(e) not in (TypeError, ValueError, KeyError, FileNotFoundError):
            raise  # a subclass may not take a message alone: as it is
        message = str(e.args[0]) if len(e.args) == 1 else str(e)
        if message.startswith((f'{key}:', f'{key}.', f'{key}[')):  # it named its full key
            raise
        # 'checkpoint: required' inside 'hybrid' reads 'hybrid.checkpoint: required'
        joined = '.' if _INNER_KEY.match(message) else ': '
        raise type(e)(f'{key}{joined}{message}') from e
