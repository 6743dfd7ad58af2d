"""Zero-shot prompt templates, and the named sets every published number uses.

`data.prompt_templates` takes format strings ("a photo of a {}.") and preset names, expanded
here: `openai_imagenet` (the 80 templates of Radford et al. 2021, as open_clip ships them) and
`simple_imagenet` (open_clip's 7), so a result can say which prompts it used.
"""

from __future__ import annotations

from collections.abc import Sequence

from mmcl.errors import MMCLError

PRESETS = ("openai_imagenet", "simple_imagenet")


def preset_templates(name: str) -> list[str]:
    """A named template set as format strings (open_clip stores them as functions)."""
    from open_clip import zero_shot_metadata

    source = {
        "openai_imagenet": zero_shot_metadata.OPENAI_IMAGENET_TEMPLATES,
        "simple_imagenet": zero_shot_metadata.SIMPLE_IMAGENET_TEMPLATES,
    }[name]
    return [template("{}") for template in source]


def resolve_templates(templates: Sequence[str], key: str = "data.prompt_templates") -> list[str]:
    """Templates with every preset name expanded; each must hold one `{}` for the class."""
    resolved: list[str] = []
    for template in templates:
        if template in PRESETS:
            resolved += preset_templates(template)
        elif template.count("{}") == 1:
            resolved.append(template)
        else:
            raise MMCLError(
                f"{key}: {template!r} is neither a template with one {{}} for the class name "
                f"nor a preset ({', '.join(PRESETS)})"
            )
    if not resolved:
        raise MMCLError(f"{key} is empty: give templates or a preset ({', '.join(PRESETS)})")
    return resolved
