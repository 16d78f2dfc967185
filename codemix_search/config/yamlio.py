"""YAML -> frozen dataclasses: type-checked fields, dotlist overrides, one-line errors."""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Mapping
from typing import Any

import yaml

from codemix_search.core.yaml_bounds import load_bounded
from codemix_search.errors import ConfigError


def _type_ok(value: Any, tp: Any) -> bool:
    origin = typing.get_origin(tp)
    if tp is Any:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_type_ok(value, a) for a in typing.get_args(tp))
    if tp is type(None):
        return value is None
    if tp is bool:
        return isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if tp is float:
        return (
            isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        )
    if tp is str:
        return isinstance(value, str)
    args = typing.get_args(tp)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            return False
        item = args[0] if len(args) == 2 and args[1] is Ellipsis else None
        return item is None or all(_type_ok(v, item) for v in value)
    if origin in (Mapping, dict) or tp in (dict,):
        if not isinstance(value, dict):
            return False
        # Every value of a Mapping[str, float] is a finite number: a NaN reference point
        # would make the hypervolume 0 and write NaN into report.json.
        return len(args) != 2 or all(
            _type_ok(k, args[0]) and _type_ok(v, args[1]) for k, v in value.items()
        )
    return True


def _type_name(tp: Any) -> str:
    if typing.get_args(tp):  # Mapping[str, float] says what each value must be
        return str(tp).replace("typing.", "").replace("collections.abc.", "")
    return getattr(tp, "__name__", str(tp).replace("typing.", ""))


def build(cls, raw: Any, file: str, prefix: str, **extra):
    """Build frozen dataclass ``cls`` from a YAML mapping: unknown keys and wrong types are
    one-line errors naming the field and what it takes."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(file, prefix, f"must be a mapping, got {type(raw).__name__}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls) if f.name not in extra]
    unknown = sorted(set(raw) - set(names))
    if unknown:
        raise ConfigError(
            file,
            f"{prefix}.{unknown[0]}".lstrip("."),
            f"unknown field; allowed: {', '.join(names)}",
        )
    required = [
        f.name
        for f in dataclasses.fields(cls)
        if f.name not in extra
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
    ]
    absent = [n for n in required if n not in raw]
    if absent:
        raise ConfigError(file, f"{prefix}.{absent[0]}".lstrip("."), "missing: a required field")
    kwargs = dict(extra)
    for name, value in raw.items():
        tp = hints[name]
        if tp is str and isinstance(value, bool):
            value = "true" if value else "false"  # YAML reads `use_gpu: true` as a bool
        if not _type_ok(value, tp):
            raise ConfigError(
                file, f"{prefix}.{name}".lstrip("."), f"expected {_type_name(tp)}, got {value!r}"
            )
        if tp is float and isinstance(value, int):
            value = float(value)
        if typing.get_origin(tp) is tuple:
            value = tuple(value)
        kwargs[name] = value
    return cls(**kwargs)


def apply_overrides(raw: dict, overrides: list[str], file: str) -> dict:
    """Dotlist overrides: ``budget.samples=8`` (values parsed as YAML scalars)."""
    raw = yaml.safe_load(yaml.safe_dump(raw, sort_keys=False))  # deep copy of plain data
    for item in overrides:
        if "=" not in item:
            raise ConfigError(
                file, item, "override must look like section.field=value, e.g. budget.samples=8"
            )
        key, _, text = item.partition("=")
        parts = [p for p in key.strip().split(".") if p]
        if not parts:
            raise ConfigError(file, item, "override needs a field name before '='")
        try:
            value = load_bounded(text, f"{file} (override {key})")
        except yaml.YAMLError:
            raise ConfigError(file, key, f"cannot parse override value {text!r}") from None
        node = raw
        for p in parts[:-1]:
            nxt = node.setdefault(p, {})
            if not isinstance(nxt, dict):
                raise ConfigError(file, key, f"{p} is not a section")
            node = nxt
        node[parts[-1]] = value
    return raw
