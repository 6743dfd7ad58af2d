"""Typed configs: dataclasses loaded from YAML with `key=value` overrides.

Unknown keys are errors that suggest the nearest valid key (nanoGPT's configurator and
solo-learn's open structs accept typos silently; a mistyped `train.lr` must not train with the
default). Values are coerced to the field's type, and each section checks its own ranges. A
key that moved is named in its class's `RENAMED` table (old key -> new), and the error for it
names the new key: no old key is read silently.

A section whose sub-sections are not known when the class is written (each registered method's
settings, `method.resampling.*`, `method.mcl.*`) holds them in a `sections_field`: they are read
and written flat, beside the section's own keys, as if each were a field.
"""

from __future__ import annotations

import copy
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
# A config is a few hundred values; aliases that expand past this are a bomb, not a config.
MAX_YAML_VALUES = 100_000
MAX_YAML_BYTES = 1_000_000
MAX_INT = 2**63 - 1  # what a torch/NumPy integer holds


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


SECTIONS = "mmcl.sections"  # field metadata key: the field holds sections written flat


def sections_field(kinds: typing.Callable[[], dict[str, type]]) -> Any:
    """A dataclass field holding named sub-sections, read and written flat beside the class's
    own fields (the key `method.resampling.teacher`, not `method.<field>.resampling.teacher`).

    `kinds()` gives every sub-section a mapping may name, key -> config dataclass (asked when a
    mapping is read, so registrations made since count). The field holds {key: section} of the
    sections given; the class's `__post_init__` may add the ones it always holds.
    """
    return dataclasses.field(default_factory=dict, metadata={SECTIONS: kinds})


WHEN_SET = "mmcl.when_set"  # field metadata key: the field is written only when it is set


def when_set_field(default: Any) -> Any:
    """A field written (to a saved config, into `config_hash`) only when it is not `default`.

    For a key added after runs were named by their hash whose default changes nothing a run
    learns or scores (`train.logger`): every config that leaves it alone keeps its hash, so
    its cached training and scores are found again.
    """
    return dataclasses.field(default=default, metadata={WHEN_SET: True})


def held_section(config: Any, key: str, noun: str) -> Any:
    """`config.<key>` for a class with a sections field, for its `__getattr__`: the section it
    holds, else that kind's defaults; an AttributeError naming the nearest key otherwise (a
    `noun`, e.g. "section", says what the sections are called)."""
    name, kinds = _sections_field(type(config))
    if key.startswith("__") or key == name:  # copy and pickle probe dunders
        raise AttributeError(key)
    held = config.__dict__.get(name, {})
    if key in held:
        return held[key]
    if key in kinds:
        return kinds[key]()
    names = [*(f.name for f in dataclasses.fields(config)), *kinds]
    close = difflib.get_close_matches(key, names, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise AttributeError(f"{type(config).__name__} has no setting or {noun} {key!r}{hint}")


def _sections_field(cls: type) -> tuple[str | None, dict[str, type]]:
    """(name of `cls`'s sections field, its kinds), or (None, {}) when it has none."""
    for f in dataclasses.fields(cls):
        if SECTIONS in f.metadata:
            return f.name, f.metadata[SECTIONS]()
    return None, {}


def _unknown_key(
    prefix: str, key: str, valid: typing.Iterable[str], renamed: dict[str, str]
) -> MMCLError:
    """The error for `key`: its new name when it moved (`renamed`, a class's RENAMED table),
    else the nearest valid key."""
    if key in renamed:
        return MMCLError(f"config key {prefix + key!r} is now {prefix + renamed[key]!r}")
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
        if isinstance(value, int) and abs(value) > MAX_INT:
            shown = repr(value) if len(repr(value)) <= 24 else f"{repr(value)[:12]}... (huge)"
            raise MMCLError(f"config key {key!r} = {shown} is too large (at most {MAX_INT})")
        if isinstance(value, float) and not math.isfinite(value):
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
    open_name, kinds = _sections_field(cls)
    valid = {name: tp for name, tp in types_by_name.items() if name != open_name} | kinds
    for key in data:
        if key not in valid:
            raise _unknown_key(prefix, key, valid, getattr(cls, "RENAMED", {}))
    defaults = cls()
    values = {}
    for name, tp in types_by_name.items():
        if name == open_name:  # the sections given, each over its defaults
            given = [key for key in kinds if key in data]
            values[name] = {key: _over(prefix + key, kinds[key](), data[key]) for key in given}
        elif name not in data:
            values[name] = getattr(defaults, name)
        elif dataclasses.is_dataclass(tp):
            values[name] = _over(prefix + name, getattr(defaults, name), data[name])
        else:
            values[name] = _coerce(prefix + name, data[name], tp)
    config = cls(**values)
    validate = getattr(config, "validate", None)
    if validate is not None:
        validate()
    return config


def _over(key: str, defaults: Any, value: Any) -> Any:
    """Section `key` of `defaults`' type: the keys given in `value` over `defaults`' values."""
    merged = {**to_dict(defaults), **_section(key, value)}
    return _coerce(key, merged, type(defaults))


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
    """Plain nested dict of a dataclass config (for YAML and hashing), as `dataclasses.asdict`
    but with the sections of a `sections_field` written flat, beside the fields."""
    return _plain(config)


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {}
        for f in dataclasses.fields(value):
            item = _plain(getattr(value, f.name))
            if WHEN_SET in f.metadata and item == f.default:
                continue
            if SECTIONS in f.metadata:
                out.update(item)
            else:
                out[f.name] = item
        return out
    if isinstance(value, dict):
        return {_plain(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_plain(v) for v in value)
    return copy.deepcopy(value)


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
        value = yaml.safe_load(raw)
    except yaml.YAMLError:
        return raw
    if _expanded_size(value, {}) > MAX_YAML_VALUES:
        raise MMCLError(f"override value {raw[:40]!r}...: its aliases expand past the limit")
    return value


def read_yaml(text: str, source: str) -> Any:
    """Parse YAML `text` as plain data, refusing what a config never needs.

    `yaml.safe_load` builds no objects, but it returns aliases shared, so a 1 KB file of
    nested aliases ("billion laughs") becomes billions of values once anything copies or
    walks it. So: no explicit tags (`!!python/...`, `!!binary`, `!custom`), and aliases only
    while the document, expanded, stays under `MAX_YAML_VALUES` values. `source` names the
    file in messages.
    """
    if len(text.encode("utf-8", errors="replace")) > MAX_YAML_BYTES:
        raise MMCLError(f"{source} is over {MAX_YAML_BYTES // 1_000_000} MB: not a config")
    try:
        tagged = [e for e in yaml.parse(text, Loader=yaml.SafeLoader) if _explicit_tag(e)]
        if tagged:
            raise MMCLError(
                f"{source} uses the YAML tag {tagged[0].tag!r} (line "
                f"{tagged[0].start_mark.line + 1}): configs take plain values; remove the tag"
            )
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise MMCLError(f"{source} is not valid YAML: {error}") from None
    if _expanded_size(data, {}) > MAX_YAML_VALUES:
        raise MMCLError(
            f"{source}: its aliases expand to more than {MAX_YAML_VALUES:,} values (an alias "
            "bomb?); write the values out or use fewer nested aliases"
        )
    return data


def _explicit_tag(event: yaml.Event) -> bool:
    """True for a node with a tag written in the text (the parser leaves implicit ones None)."""
    nodes = (yaml.ScalarEvent, yaml.SequenceStartEvent, yaml.MappingStartEvent)
    return isinstance(event, nodes) and event.tag is not None


def _expanded_size(node: Any, sizes: dict[int, int]) -> int:
    """How many values `node` holds once every alias is copied out (shared nodes once each
    in `sizes`, so this costs the file's size, not the expansion's)."""
    if not isinstance(node, dict | list):
        return 1
    if id(node) not in sizes:
        children = [*node.keys(), *node.values()] if isinstance(node, dict) else node
        sizes[id(node)] = 1 + sum(_expanded_size(child, sizes) for child in children)
    return sizes[id(node)]


def load_config(
    cls: type[C],
    path: str | Path | None = None,
    overrides: typing.Iterable[str] = (),
    prepare: typing.Callable[[dict[str, Any]], dict[str, Any]] | None = None,
) -> C:
    """Load `cls` from an optional YAML file plus overrides, validating every key and value.

    `prepare` rewrites the file's mapping before the overrides (a run's own saved config:
    `mmcl.train.config.as_written`)."""
    data: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if path.is_dir():
            raise MMCLError(f"config file {str(path)!r} is a folder; give a YAML file in it")
        if not path.is_file():
            raise MMCLError(f"config file {str(path)!r} not found")
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise MMCLError(
                f"config file {str(path)!r} cannot be read as UTF-8 text: {error}"
            ) from None
        data = read_yaml(text, f"config file {str(path)!r}") or {}
        if not isinstance(data, dict):
            raise MMCLError(f"config file {str(path)!r} must hold a mapping of sections")
    if prepare is not None:
        data = prepare(data)
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
