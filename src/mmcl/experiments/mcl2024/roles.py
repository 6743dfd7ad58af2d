"""The part each attribute of the run's world plays in MCL's design (spec 2, 5.1), per world.

The spec's design is Trifeature's: colour is the easy feature SimCLR keeps under weak colour
augmentation (`dominant`), shape and texture the features it suppresses (`suppressed`), and the
stages are probed on all three (`trifeature`: the S4 rows, the attribute M1/M2 name, the gates).
Another world asks the same claims of its own attributes where the spec's logic carries over
and names the spec's attributes it has no counterpart for (`absent`): their claims are reported
"not answerable here" with that reason, never re-asked about something else.

- `shapes`: the spec's design as written (on the grey canvas, configs/mcl2024/scales.yaml).
- `fashion`: the object class (`item`, a real Fashion-MNIST photo) plays shape, the suppressed
  core feature; the tint plays colour; the background (independent of the class at
  spurious_strength 0.1) is a third independent attribute, probed and paired like the others
  but given no role the spec does not state. The photos' own prints and folds are no attribute
  one can draw independently of the photo: texture has no counterpart.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mmcl.data.worlds import get_world
from mmcl.data.worlds.fashion import FashionConfig
from mmcl.data.worlds.shapes import ATTRIBUTE_VALUES as SHAPES_VALUES
from mmcl.data.worlds.shapes import ShapesConfig
from mmcl.errors import MMCLError
from mmcl.registry import Registry


@dataclass(frozen=True)
class Roles:
    """One world's attributes in MCL's design; `chance[a]` is a probe's chance on attribute a."""

    world: str
    dominant: str
    suppressed: tuple[str, ...]
    trifeature: tuple[str, ...]
    probed: tuple[str, ...]  # every attribute probed and recorded (trifeature first)
    chance: dict[str, float]
    dataset: str  # the records' dataset name
    absent: dict[str, str] = field(default_factory=dict)  # spec attribute -> why no counterpart
    reading: str = ""  # how the claims read the spec's attributes here ("" on shapes)


ROLES: Registry[Callable[[Any], Roles]] = Registry("mcl2024 world")


@ROLES.register("shapes")
def shapes_roles(cfg: ShapesConfig) -> Roles:
    probed = ("color", "shape", "texture", "size", "position")
    # 1 / every value (colour: 1/10), as every published shapes run was decided, although a
    # run draws only the seen colours (8 of 10): kept so shapes' figures stay as they were.
    chance = {a: 1.0 / len(SHAPES_VALUES[a]) for a in probed}
    return Roles("shapes", "color", ("shape", "texture"), ("color", "shape", "texture"),
                 probed, chance, "shapes-trifeature")  # fmt: skip


READING = (
    "on fashion the item, the photo's class, stands for the spec's shape and the tint for its "
    "colour; texture has no counterpart"
)
NO_TEXTURE = (
    "the fashion world has no texture attribute: an object is a real photo, whose prints and "
    "folds come with the photo and cannot be drawn apart from its class (shape's counterpart is "
    "the item, colour's the tint)"
)


@ROLES.register("fashion")
def fashion_roles(cfg: FashionConfig) -> Roles:
    visible = cfg.visible_attributes()
    trifeature = tuple(a for a in ("color", "item", "background") if a in visible)
    # The values the balanced split draws: the seen tints, the ten training backgrounds.
    chance = {a: 1.0 / cfg.drawn_values(a) for a in trifeature}
    return Roles("fashion", "color", ("item",), trifeature, trifeature, chance,
                 "fashion-mnist-composited", {"texture": NO_TEXTURE}, READING)  # fmt: skip


def roles_for(world_config: Any) -> Roles:
    """The roles of the world whose config this is (`RunConfig.data.world_config()`)."""
    world, cfg = get_world(world_config)
    if world.name not in ROLES:
        raise MMCLError(
            f"mcl2024 on data.world={world.name}: no roles for its attributes (which is the easy "
            f"feature, which the suppressed one); mcl2024 runs on {', '.join(ROLES.names())}"
        )
    return ROLES.get(world.name)(cfg)


SHAPES = roles_for(ShapesConfig(canvas="grey"))  # the spec's own design (claims' defaults)
