"""Experiments as data: each paper's scales and constant override lists, read from YAML.

The files live in the package (`mmcl/configs/<paper>/*.yaml`, next to the `mmcl train` configs),
so an installed mmcl reads them as a clone does; each number carries, as a YAML comment, the
measurement that chose it. A paper's modules read their files once, at import, into the same
frozen dataclasses they train from; what depends on a seed or a folder stays in code.

A mistake in a file (an unknown, missing or mistyped key, a scale named wrong) is an MMCLError
that names the file and the key, with the nearest valid name.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from mmcl.config import read_yaml
from mmcl.errors import MMCLError
from mmcl.experiments.registry import SCALES
from mmcl.registry import unknown_name_message

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

T = TypeVar("T")
# Field -> {name: value}: fields a file may set by naming a value the code holds (a scale of
# another table, a list of another file) instead of spelling it out.
Refs = Mapping[str, Mapping[str, Any]]


def grid_path(experiment: str, name: str) -> Traversable:
    """The packaged file `configs/<experiment>/<name>` (inside mmcl: installs have it too)."""
    return resources.files("mmcl") / "configs" / experiment / name


@dataclass(frozen=True)
class Grid:
    """The top-level sections of one YAML file, and the file's name for error messages."""

    source: str
    sections: dict[str, Any]

    def strings(self, section: str) -> tuple[str, ...]:
        """A section that is a list of strings (override lists)."""
        value = self.sections[section]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise MMCLError(f"{self.source}: {section} must be a list of strings, got {value!r}")
        return tuple(value)

    def mapping(self, section: str, values: type | None = None) -> dict[str, Any]:
        """A section that is a mapping, as read; with `values`, each value must be one."""
        value = self.sections[section]
        if not isinstance(value, dict):
            raise MMCLError(f"{self.source}: {section} must be a mapping, got {value!r}")
        wrong = [key for key, item in value.items() if values and not isinstance(item, values)]
        if wrong:
            item = value[wrong[0]]
            raise MMCLError(
                f"{self.source}: {section}.{wrong[0]} must be a {values.__name__}, got {item!r}"
            )
        return value

    def table(
        self,
        cls: type[T],
        section: str,
        names: Sequence[str] = SCALES,
        refs: Refs | None = None,
        kind: str = "scale",
    ) -> dict[str, T]:
        """`section` as {name: cls}: exactly the `names` (scales, or the `kind` named), each
        entry cls's fields (those with defaults may be left out; a field of `refs` may name one
        of its values)."""
        entries = self.mapping(section)
        for name in entries:
            if name not in names:
                message = unknown_name_message(kind, str(name), names)
                raise MMCLError(f"{self.source}: {section}: {message}")
        missing = [name for name in names if name not in entries]
        if missing:
            raise MMCLError(f"{self.source}: {section}: no {kind} {missing[0]!r}")
        where = f"{self.source}: {section}"
        return {name: build(cls, entries[name], f"{where}.{name}", refs or {}) for name in names}


def read_grid(path: Path | Traversable, sections: Sequence[str]) -> Grid:
    """Parse the YAML at `path`, whose top-level keys must be exactly `sections`."""
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise MMCLError(f"grid file {source} not found") from None
    data = read_yaml(text, f"grid file {source}")
    if not isinstance(data, dict):
        raise MMCLError(f"grid file {source} must hold a mapping of sections")
    for key in data:
        if key not in sections:
            raise MMCLError(f"{source}: {unknown_name_message('section', str(key), sections)}")
    missing = [key for key in sections if key not in data]
    if missing:
        raise MMCLError(f"{source}: no section {missing[0]!r}")
    return Grid(source, data)


def build(cls: type[T], entry: Any, where: str, refs: Refs) -> T:
    """Dataclass `cls` from one mapping of a file; `where` (file: section.scale) prefixes errors."""
    if not isinstance(entry, dict):
        raise MMCLError(f"{where}: expected a mapping of {cls.__name__} fields, got {entry!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    for key in entry:
        if key not in fields:
            raise MMCLError(f"{where}: {unknown_name_message('key', str(key), fields)}")
    required = [
        name
        for name, f in fields.items()
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    missing = [name for name in required if name not in entry]
    if missing:
        raise MMCLError(f"{where}: missing key {missing[0]!r} (required: {', '.join(required)})")
    hints = typing.get_type_hints(cls)
    values = {
        key: _value(f"{where}.{key}", value, hints[key], refs.get(key, {}))
        for key, value in entry.items()
    }
    try:
        return cls(**values)
    except MMCLError as error:  # the dataclass's own checks (__post_init__)
        raise MMCLError(f"{where}: {error}") from None


def _value(where: str, value: Any, tp: Any, named: Mapping[str, Any]) -> Any:
    """`value` as type `tp`: lists become tuples, ints become floats where a float is wanted,
    and a name of `named` becomes its value; anything else of the wrong type is an error."""
    if named and isinstance(value, str):
        if value not in named:
            raise MMCLError(f"{where}: {unknown_name_message('name', value, named)}")
        return named[value]
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None:
            return None
        (tp,) = [arg for arg in typing.get_args(tp) if arg is not type(None)]
        return _value(where, value, tp, {})
    if origin is tuple:
        if not isinstance(value, list):
            raise MMCLError(f"{where}: expected a list, got {value!r}")
        item = typing.get_args(tp)[0]
        return tuple(_value(f"{where}[{i}]", v, item, {}) for i, v in enumerate(value))
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, tp) or (isinstance(value, bool) and tp is not bool):
        raise MMCLError(f"{where}: expected {tp.__name__}, got {value!r}")
    return value


@dataclass(frozen=True)
class Margin:
    """A claim's margin in the claim's own units, and the one-line reason it was fixed at before
    any run (a paper's `claims.yaml`, section `margins`)."""

    value: float
    reason: str

    def __post_init__(self) -> None:
        if not math.isfinite(self.value):
            raise MMCLError(f"value must be a finite number, got {self.value!r}")
        if not self.reason.strip():
            raise MMCLError("reason must say in one line why the margin is this number")


def read_margins(
    path: Path | Traversable, names: Sequence[str], kind: str, magnitudes: bool = False
) -> dict[str, Margin]:
    """{name: Margin} from the `margins` section of a claims file: exactly `names` (claims or
    claim kinds, `kind` says which), each {value, reason}; with `magnitudes`, every value >= 0
    (its sign set by the claim that uses it). A missing, unknown, mistyped or out-of-range entry
    is an MMCLError naming the file and the key."""
    margins = read_grid(path, ("margins",)).table(Margin, "margins", names, kind=kind)
    negative = [name for name, m in margins.items() if magnitudes and m.value < 0]
    if negative:
        raise MMCLError(f"{path}: margins.{negative[0]}.value must be >= 0 (a magnitude)")
    return margins
