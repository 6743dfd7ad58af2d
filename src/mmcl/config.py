"""Typed configs: dataclasses loaded from YAML with `key=value` overrides.

Unknown keys are errors that suggest the nearest valid key (nanoGPT's configurator and
solo-learn's open structs accept typos silently; a mistyped `train.lr` must not train with the
default). Values are coerced to the field's type, and each section checks its own ranges.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import math
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

from mmcl.errors import MMCLError

C = TypeVar("C")


def check_range(
    key: str, value: float, low: float | None = None, high: float | None = None
) -> None:
    """Raise if `value` lies outside [low, high], naming the key and the allowed range."""
    if (low is not None and value < low) or (high is not None and value > high):
        span = f"[{'-inf' if low is None else low}, {'inf' if high is None else high}]"
        raise MMCLError(f"config key {key!r} = {value!r} is out of range: allowed {span}")


def check_choice(key: str, value: str, choices: typing.Iterable[str]) -> None:
    """Raise if `value` is not one of `choices`, suggesting the closest."""
    choices = sorted(choices)
    if value not in choices:
        close = difflib.get_close_matches(str(value), choices, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise MMCLError(
            f"config key {key!r} = {value!r} is not valid{hint} (allowed: {', '.join(choices)})"
        )


def _field_types(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def _unknown_key(prefix: str, key: str, valid: typing.Iterable[str]) -> MMCLError:
    valid = sorted(valid)
    close = difflib.get_close_matches(key, valid, n=1)
    hint = f"; did you mean {prefix + close[0]!r}?" if close else ""
    return MMCLError(
        f"unknown config key {prefix + key!r}{hint} (valid keys here: {', '.join(valid)})"
    )


def _yaml11_float(value: Any) -> Any:
    """`2e-3` as a number: YAML 1.1 (PyYAML) reads exponents without a dot as strings."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def _coerce(key: str, value: Any, tp: Any) -> Any:
    """Convert a YAML/CLI value to the annotated type, or raise naming the key."""
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise MMCLError(f"config key {key!r} must be a section (mapping), got {value!r}")
        return from_dict(tp, value, prefix=key + ".")
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            return None
        return _coerce(key, value, args[0])
    if origin is list:
        (item_tp,) = typing.get_args(tp)
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list | tuple):
            raise MMCLError(f"config key {key!r} must be a list, got {value!r}")
        return [_coerce(key, v, item_tp) for v in value]
    if origin is dict:
        key_tp, val_tp = typing.get_args(tp)
        if not isinstance(value, dict):
            raise MMCLError(f"config key {key!r} must be a mapping, got {value!r}")
        return {_coerce(key, k, key_tp): _coerce(f"{key}.{k}", v, val_tp) for k, v in value.items()}
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise MMCLError(f"config key {key!r} must be true or false, got {value!r}")
    if tp in (int, float):
        value = _yaml11_float(value)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise MMCLError(f"config key {key!r} must be a number ({tp.__name__}), got {value!r}")
        if not math.isfinite(value):
            raise MMCLError(f"config key {key!r} = {value!r} must be a finite number")
        if tp is int and float(value) != int(value):
            raise MMCLError(f"config key {key!r} must be an integer, got {value!r}")
        return tp(value)
    if tp is str:
        return "" if value is None else str(value)
    return value


def from_dict(cls: type[C], data: dict[str, Any], prefix: str = "") -> C:
    """Build dataclass `cls` from a nested dict; unknown keys raise with a suggestion."""
    types_by_name = _field_types(cls)
    for key in data:
        if key not in types_by_name:
            raise _unknown_key(prefix, key, types_by_name)
    defaults = cls()
    values = {}
    for name, tp in types_by_name.items():
        if name not in data:
            values[name] = getattr(defaults, name)
        elif dataclasses.is_dataclass(tp):
            section = _section(prefix + name, data[name])
            merged = {**to_dict(getattr(defaults, name)), **section}
            values[name] = _coerce(prefix + name, merged, tp)
        else:
            values[name] = _coerce(prefix + name, data[name], tp)
    config = cls(**values)
    validate = getattr(config, "validate", None)
    if validate is not None:
        validate()
    return config


def _section(key: str, value: Any) -> dict[str, Any]:
    """The mapping given for section `key` (empty when left blank), or an error naming it."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise MMCLError(
            f"config key {key!r} must be a section (mapping of keys), got {value!r}; set one "
            f"of its keys instead, e.g. {key}.<key>=value"
        )
    return value


def to_dict(config: Any) -> dict[str, Any]:
    """Plain nested dict of a dataclass config (for YAML and hashing)."""
    return dataclasses.asdict(config)


def apply_overrides(data: dict[str, Any], overrides: typing.Iterable[str]) -> dict[str, Any]:
    """Apply `a.b.c=value` strings to a nested dict; values are parsed as YAML scalars."""
    data = json.loads(json.dumps(data))  # deep copy of plain data
    for item in overrides:
        if "=" not in item:
            raise MMCLError(f"override {item!r} must look like key=value (e.g. train.steps=100)")
        dotted, raw = item.split("=", 1)
        node = data
        parts = dotted.strip().split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise MMCLError(f"override {item!r}: {part!r} is a value, not a section")
        node[parts[-1]] = parse_override_value(raw)
    return data


def parse_override_value(raw: str) -> Any:
    """A YAML scalar or list (`3`, `true`, `[a, b]`); text YAML cannot parse (`,`) stays text."""
    if not raw.strip():
        return ""
    try:
        return yaml.safe_load(raw)
    except yaml.YAMLError:
        return raw


def load_config(
    cls: type[C], path: str | Path | None = None, overrides: typing.Iterable[str] = ()
) -> C:
    """Load `cls` from an optional YAML file plus overrides, validating every key and value."""
    data: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise MMCLError(f"config file {str(path)!r} not found")
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as error:
            raise MMCLError(f"config file {str(path)!r} is not valid YAML: {error}") from None
        if not isinstance(data, dict):
            raise MMCLError(f"config file {str(path)!r} must hold a mapping of sections")
    data = apply_overrides(data, overrides)
    return from_dict(cls, data)


def save_config(config: Any, path: str | Path) -> None:
    """Write the fully resolved config as YAML, atomically."""
    from mmcl.io import atomic_write_text

    atomic_write_text(Path(path), yaml.safe_dump(to_dict(config), sort_keys=False))


def config_hash(config: Any) -> str:
    """Short stable hash of a config, for caches and result records."""
    blob = json.dumps(to_dict(config), sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:12]


def differing_keys(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two config dicts, as `key: old -> new`.

    So that a refused resume can say which edit of `config.yaml` made it differ.
    """
    changes = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            changes += differing_keys(a, b, f"{prefix}{key}.")
        elif a != b:
            changes.append(f"{prefix}{key}: {a!r} -> {b!r}")
    return changes


def parse_pairs(text: str | None, flag: str) -> dict[str, str]:
    """'a=b,c=d' -> {'a': 'b', 'c': 'd'}: the NAME=VALUE lists of command-line flags."""
    pairs = {}
    for part in filter(None, (item.strip() for item in (text or "").split(","))):
        name, sep, value = part.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise MMCLError(f"{flag}: expected 'name=value[,name=value]', got {part!r}")
        pairs[name.strip()] = value.strip()
    return pairs
