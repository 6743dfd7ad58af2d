"""Zero-shot prompt templates, and the named sets every published number uses.

`data.prompt_templates` takes format strings ("a photo of a {}.") and preset names, expanded
here: `openai_imagenet` (the 80 templates of Radford et al. 2021, as open_clip ships them),
`simple_imagenet` (open_clip's 7) and `mmcl_world` (the prompts a rendered world's splits
carry, whatever `data.prompt_templates` says), so a result can say which prompts it used.
Presets are expanded when the config loads, so a saved config holds the strings themselves;
`template_set_name` names them again for the results.
"""

from __future__ import annotations

from collections.abc import Sequence

from mmcl.errors import MMCLError

PRESETS = ("openai_imagenet", "simple_imagenet", "mmcl_world")
CUSTOM = "custom"  # the name of a template list that is no preset


def preset_templates(name: str) -> list[str]:
    """A named template set as format strings (open_clip stores them as functions)."""
    if name == "mmcl_world":
        from mmcl.data.worlds.captions import PROMPT_TEMPLATES

        return list(PROMPT_TEMPLATES)
    from open_clip import zero_shot_metadata

    source = {
        "openai_imagenet": zero_shot_metadata.OPENAI_IMAGENET_TEMPLATES,
        "simple_imagenet": zero_shot_metadata.SIMPLE_IMAGENET_TEMPLATES,
    }[name]
    return [template("{}") for template in source]


def template_set_name(templates: Sequence[str]) -> str:
    """The preset whose strings are exactly `templates` (in order), else `custom`."""
    return next((name for name in PRESETS if preset_templates(name) == list(templates)), CUSTOM)


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
