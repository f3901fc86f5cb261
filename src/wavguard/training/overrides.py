"""Training settings from text: recipe files, ``key=value`` overrides, YAML values coerced to a
field's type, callables named by import path.

An override's value is parsed as YAML (``[8, 8]``, ``true``, ``null``; text YAML cannot parse stays
a string) and a dotted key reaches into a mapping (``detector.window_seconds=2.0``). YAML reads
``1e-3`` as a string and ``no`` as false, so :func:`coerce_value` brings each value to the type the
setting declares.

Example:
    >>> apply_overrides({"epochs": 10}, ["epochs=3", "detector.window_seconds=2.0"])
    {'epochs': 3, 'detector': {'window_seconds': 2.0}}
    >>> coerce_value("head_learning_rate", "1e-3", float)
    0.001
"""

from __future__ import annotations

import importlib
import os
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import ConfigError

__all__ = [
    "read_recipe",
    "apply_overrides",
    "coerce_value",
    "resolve_callable",
    "resolve_augment",
    "settings_mapping",
]


def read_recipe(path: str | os.PathLike) -> dict[str, Any]:
    """The settings of a recipe file: a YAML mapping of plain values (an empty file: none).

    Raises:
        ConfigError: naming the file, when it is missing, not YAML, nested too deeply or not a mapping.
    """
    import yaml

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: recipe file not found")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from None
    except RecursionError:
        raise ConfigError(
            f"{path}: nested too deeply to be a recipe (a recipe is a mapping of plain settings); is the file corrupt?"
        ) from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a recipe is a mapping of settings, got {type(data).__name__}")
    return data


def apply_overrides(data: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Apply ``key=value`` strings (YAML values, dotted keys for nested mappings) to a copy of ``data``."""
    import copy

    import yaml

    data = {k: (copy.deepcopy(v) if isinstance(v, dict) else v) for k, v in data.items()}
    for item in overrides:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"override {item!r} must look like key=value (e.g. epochs=5)")
        try:
            value = yaml.safe_load(raw) if raw.strip() else None
        except yaml.YAMLError:
            value = raw
        parts = key.split(".")
        target = data
        for part in parts[:-1]:
            node = target.get(part)
            if node is None:
                node = target[part] = {}
            if not isinstance(node, dict):
                raise ConfigError(f"override {item!r}: {part} is not a mapping")
            target = node
        target[parts[-1]] = value
    return data


def coerce_value(name: str, value: Any, hint: Any) -> Any:
    """Coerce a YAML value to a field's annotated type (YAML reads ``1e-3`` as a string)."""
    if value is None:
        return None
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) != 1:
            return value
        hint = args[0]
    base = typing.get_origin(hint) or hint
    try:
        if base is float:
            return float(value)
        if base is int:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError("not a whole number")
            return int(value)
        if base is bool:
            if isinstance(value, str):
                if value.lower() in ("true", "yes", "1"):
                    return True
                if value.lower() in ("false", "no", "0"):
                    return False
                raise ValueError("not a boolean")
            return bool(value)
        if base is str:
            return str(value)
        if base is tuple:
            return tuple([value] if isinstance(value, str) else value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{name}={value!r}: expected {getattr(base, '__name__', base)} ({exc})") from None
    return value


def resolve_callable(spec: str | Callable | None, name: str = "augment") -> Callable | None:
    """``"package.module:function"`` (or ``package.module.function``) -> the callable; callables pass
    through. ``name`` is the setting named in errors."""
    if spec is None or callable(spec):
        return spec
    if not isinstance(spec, str) or not spec:
        raise ConfigError(f"{name} must be a callable or a 'module:function' string, got {spec!r}")
    module_name, _, attr = spec.partition(":") if ":" in spec else spec.rpartition(".")
    try:
        obj = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ConfigError(f"{name}={spec!r}: cannot import it ({exc})") from None
    if not callable(obj):
        raise ConfigError(f"{name}={spec!r} is not callable")
    return obj


def resolve_augment(spec: Any, seed: int, name: str = "augment") -> Callable | None:
    """An augmentation setting -> its callable: a :func:`wavguard.audio.augment.build_augmenter`
    config (a mapping with ``transforms``, seeded with ``seed``), a ``module:function`` string or a
    callable; ``None`` stays ``None``."""
    if isinstance(spec, dict):
        from ..audio.augment import build_augmenter

        try:
            return build_augmenter({"seed": seed, **spec})
        except ConfigError as exc:
            raise ConfigError(f"{name}: {exc}") from None
    return resolve_callable(spec, name)


def settings_mapping(name: str, value: Any, known: Sequence[str], example: str) -> dict[str, Any]:
    """An objective's setting (``sam``, ``pairing``, ...) given as ``true`` (every default) or a
    mapping of its fields -> a plain dict of the fields given.

    Raises:
        ConfigError: naming ``name``: not a mapping (``example`` shows one), or keys outside ``known``.
    """
    if value is True:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"{name} must be null, true or a mapping like {example}, got {value!r}")
    unknown = sorted(set(value) - set(known))
    if unknown:
        raise ConfigError(f"{name}: unknown keys {unknown}; known: {', '.join(known)}")
    return dict(value)
