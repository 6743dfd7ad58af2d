"""A whole open_clip model behind mmcl's model interface: any architecture open_clip can build
(ViT, ResNet, ConvNeXt and other timm trunks, SigLIP, EVA, MobileCLIP, CoCa's contrastive part),
its own checkpoints, its own normalisation and tokenizer.

mmcl feeds every model images normalised with the OpenAI statistics (`mmcl.data.world_dataset.
normalize`); a model trained with other statistics (SigLIP's 0.5/0.5) gets them re-normalised
here by an exact affine map, so its features equal open_clip's own forward on the same pixels.
The state dict is open_clip's under the prefix `clip.`, so a checkpoint moves between the two
libraries by adding or stripping that prefix (`open_clip_state_dict`, `load_open_clip_weights`).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from mmcl.errors import MMCLError
from mmcl.io import atomic_write, atomic_write_json, atomic_write_text
from mmcl.losses import MAX_LOG_LOGIT_SCALE
from mmcl.models.compact import full_state_dict

OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)  # open_clip.constants.OPENAI_DATASET_MEAN
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)  # open_clip.constants.OPENAI_DATASET_STD
LOCAL_DIR = "local-dir:"  # open_clip's prefix for a model folder (config + weights)
WEIGHTS_FILE = "open_clip_pytorch_model.bin"  # what open_clip's own releases ship
EXPORT_WEIGHTS_FILE = "open_clip_model.safetensors"  # open_clip's first choice in a local dir
CONFIG_FILE = "open_clip_config.json"
EXPORT_FACTS_FILE = "mmcl_export.json"  # how to load an export (local-dir:, size, mean/std)
EXPORT_README_FILE = "README.md"  # the same for a person


def create_open_clip(name: str, image_size: int | None = None) -> nn.Module:
    """open_clip's model `name`, randomly initialised (nothing is downloaded)."""
    import open_clip

    if not name.startswith(LOCAL_DIR) and name not in open_clip.list_models():
        raise MMCLError(
            f"model.open_clip_name={name!r} is not an open_clip architecture "
            f"(see open_clip.list_models(); e.g. ViT-B-32, RN50, ViT-B-16-SigLIP)"
        )
    kwargs: dict[str, Any] = {"pretrained": None}
    if image_size:
        kwargs["force_image_size"] = image_size
    quiet = logging.getLogger().level
    logging.getLogger().setLevel(logging.ERROR)  # "no pretrained weights loaded": by design
    try:
        return open_clip.create_model(name, **kwargs)
    except Exception as err:  # an architecture whose extra package is missing, say
        raise MMCLError(f"open_clip cannot build {name!r}: {err}") from None
    finally:
        logging.getLogger().setLevel(quiet)


class OpenCLIPModel(nn.Module):
    """An open_clip CLIP as an mmcl model: `backbone_features` is open_clip's unnormalised image
    embedding (CLIP_benchmark probes the same), `image_projection` the identity."""

    has_text = True
    has_classifier = False
    classifier = None

    def __init__(
        self, name: str, image_size: int | None = None, weights: Path | None = None
    ) -> None:
        """`weights`: a checkpoint in open_clip's layout, loaded before any change of image
        size (a timm trunk's position embeddings are resampled after loading, as open_clip's
        `force_image_size` does)."""
        super().__init__()
        self.name = name
        timm_trunk = _timm_trunk(name)
        native = _native_size(name)
        resize = bool(image_size) and image_size != native
        self.clip = create_open_clip(name, image_size if resize and not timm_trunk else None)
        if weights is not None:
            self.load_open_clip_weights(weights)
        if resize and timm_trunk:
            self.clip.visual.set_input_size(image_size)
        self.image_projection = nn.Identity()
        preprocess = getattr(self.clip.visual, "preprocess_cfg", {}) or {}
        mean = torch.tensor(preprocess.get("mean", OPENAI_MEAN)).view(1, 3, 1, 1)
        std = torch.tensor(preprocess.get("std", OPENAI_STD)).view(1, 3, 1, 1)
        openai_mean = torch.tensor(OPENAI_MEAN).view(1, 3, 1, 1)
        openai_std = torch.tensor(OPENAI_STD).view(1, 3, 1, 1)
        # x_model = (x_openai * std_openai + mean_openai - mean) / std
        self.register_buffer("input_gain", openai_std / std, persistent=False)
        self.register_buffer("input_shift", (openai_mean - mean) / std, persistent=False)

    @property
    def logit_scale(self) -> nn.Parameter:
        return self.clip.logit_scale

    @property
    def image_size(self) -> int:
        size = self.clip.visual.image_size
        return int(size[0] if isinstance(size, tuple | list) else size)

    def backbone_features(self, images: torch.Tensor) -> torch.Tensor:
        images = images * self.input_gain.to(images.dtype) + self.input_shift.to(images.dtype)
        return self.clip.encode_image(images, normalize=False)  # (B, D)

    def encode_image(self, images: torch.Tensor, normalize: bool = True) -> torch.Tensor:
        z = self.backbone_features(images)
        return F.normalize(z, dim=-1) if normalize else z

    def encode_text(self, tokens: torch.Tensor, normalize: bool = True) -> torch.Tensor:
        return self.clip.encode_text(tokens, normalize=normalize)  # (B, D)

    def classify(self, images: torch.Tensor) -> torch.Tensor:
        raise MMCLError("an open_clip model has no class head: use zero-shot or a probe")

    def scale(self) -> torch.Tensor:
        return self.clip.logit_scale.clamp(max=MAX_LOG_LOGIT_SCALE).exp().reshape(())

    def load_open_clip_weights(self, path: Path) -> None:
        """A checkpoint in open_clip's layout (bare state dict or {"state_dict": ...}, with
        or without DDP's `module.`), through open_clip's own loader: it also resizes position
        embeddings to this model's image size."""
        import open_clip

        try:
            open_clip.load_checkpoint(self.clip, str(path), strict=True)
        except (RuntimeError, KeyError, ValueError) as err:
            raise MMCLError(
                f"model.pretrained={str(path)!r} is not a {self.name} checkpoint in open_clip's "
                f"layout: {str(err).splitlines()[0]}"
            ) from None

    def open_clip_state_dict(self) -> dict[str, torch.Tensor]:
        """The weights in open_clip's own layout (what `create_model(..., pretrained=)` reads).

        A compact token table (`model.vocab`) comes out full size, as open_clip builds
        it: the kept rows at their ids, zeros in the rows of tokens the model was built without.
        """
        return full_state_dict(self.clip, self.clip.state_dict())


def _model_config(name: str) -> dict[str, Any]:
    import open_clip

    return open_clip.get_model_config(name) or {}


def _timm_trunk(name: str) -> bool:
    return bool(_model_config(name).get("vision_cfg", {}).get("timm_model_name"))


def embed_dim(name: str) -> int:
    """The width of the joint image-text space of architecture `name`."""
    return int(_model_config(name)["embed_dim"])


def _native_size(name: str) -> int | None:
    size = _model_config(name).get("vision_cfg", {}).get("image_size")
    return int(size[0] if isinstance(size, list | tuple) else size) if size else None


def native_image_size(name: str) -> int:
    """The image size architecture `name` was designed for (224 when its config is silent)."""
    return _native_size(name) or 224


def is_open_clip_state(state: dict[str, Any]) -> bool:
    """True for a state dict in open_clip's layout rather than mmcl's (`clip.` prefixed)."""
    state = state.get("state_dict", state)
    keys = [k.removeprefix("module.") for k in state]
    return any(k.startswith(("visual.", "text.")) for k in keys) and not any(
        k.startswith("clip.") for k in keys
    )


def export_open_clip(model: OpenCLIPModel, out_dir: Path, source: str = "") -> Path:
    """Write `out_dir` as an open_clip model folder: its config (at the image size this model
    was built for) and its weights as safetensors (tensors only: loading them runs no code),
    which `open_clip.create_model_and_transforms("local-dir:OUT")` and CLIP_benchmark's
    open_clip loader read. A compact token table is written full size (49,408 rows for CLIP's
    BPE): the trained rows at their ids and zeros in every other row, so open_clip loads it
    strictly and agrees with the model on its world's text; other text embeds as zeros there.

    Beside them, README.md and mmcl_export.json say how to load it (`local-dir:`, its image
    size and normalisation) and where it came from (`source`, the run). The config is written
    last: a folder cut short has none, and open_clip refuses it loudly instead of building the
    architecture with random weights.
    """
    import open_clip
    from safetensors.torch import save

    config = open_clip.get_model_config(model.name)
    if config is None:
        raise MMCLError(f"open_clip has no config for {model.name!r} to export with")
    config["vision_cfg"]["image_size"] = model.image_size
    preprocess = dict(getattr(model.clip.visual, "preprocess_cfg", {}) or {})
    preprocess["size"] = [model.image_size, model.image_size]
    out_dir.mkdir(parents=True, exist_ok=True)
    # own copies: safetensors refuses tensors that share storage (tied or viewed weights)
    state = {k: v.detach().clone() for k, v in model.open_clip_state_dict().items()}
    atomic_write(out_dir / EXPORT_WEIGHTS_FILE, lambda handle: handle.write(save(state)))
    facts = export_facts(model, preprocess, out_dir, source)
    atomic_write_json(out_dir / EXPORT_FACTS_FILE, facts)
    atomic_write_text(out_dir / EXPORT_README_FILE, export_readme(facts))
    document = {"model_cfg": config, "preprocess_cfg": preprocess}
    atomic_write_text(out_dir / CONFIG_FILE, json.dumps(document, indent=1, default=list))
    return out_dir


def export_facts(
    model: OpenCLIPModel, preprocess: dict[str, Any], out_dir: Path, source: str
) -> dict[str, Any]:
    """What a reader of an export needs to load and preprocess it as mmcl scored it."""
    from mmcl import __version__

    where = f"{LOCAL_DIR}{out_dir.resolve()}"
    named = not model.name.startswith(LOCAL_DIR)
    return {
        "model": where,  # open_clip's and CLIP_benchmark's model name for this folder
        "load": f"open_clip.create_model_and_transforms({where!r})",
        "tokenizer": f"open_clip.get_tokenizer({where!r})",
        "architecture": model.name,
        "image_size": model.image_size,
        # what open_clip builds when the export is loaded by architecture name instead
        "architecture_image_size": native_image_size(model.name) if named else None,
        "mean": list(preprocess.get("mean", OPENAI_MEAN)),
        "std": list(preprocess.get("std", OPENAI_STD)),
        "interpolation": preprocess.get("interpolation", "bicubic"),
        "resize_mode": preprocess.get("resize_mode", "shortest"),
        "source": source,
        "mmcl_version": __version__,
    }


def export_readme(facts: dict[str, Any]) -> str:
    """README.md of an export folder: how to load it, and the one way not to."""
    from mmcl.data.formats.clip_benchmark import clip_benchmark_command

    size, named = facts["image_size"], facts["architecture_image_size"]
    command = clip_benchmark_command(facts["model"], Path("DATA"), ["SPLIT"])
    origin = f" from `{facts['source']}`" if facts["source"] else ""
    title = f"{facts['architecture']} at {size} px, exported by mmcl {facts['mmcl_version']}"
    text = f"""# {title}{origin}

Load it as a folder, with open_clip's `local-dir:` prefix:

```python
import open_clip
model, _, preprocess = {facts["load"]}
tokenizer = {facts["tokenizer"]}
```

`preprocess` resizes the shorter side to {size} px ({facts["interpolation"]}, resize mode
{facts["resize_mode"]}), crops the centre and normalises with mean {facts["mean"]} and std
{facts["std"]}, as mmcl scored the model.

CLIP_benchmark loads it the same way. `mmcl data make WORLD --format clip_benchmark --out DATA`
writes mmcl's test splits as its datasets and prints the command scoring this folder on them:

```sh
{command}
```
"""
    if named is not None and named != size:
        by_name = f"create_model_and_transforms('{facts['architecture']}', pretrained=FILE)"
        text += f"""
Do not load it by architecture name, as `{by_name}`: open_clip builds
{facts["architecture"]} at {named} px, resizes the position embeddings without a word and scores
another model.
"""
    return text


def misload_warning(model: OpenCLIPModel, out_dir: Path) -> str:
    """Why loading the export of `model` by its architecture name would quietly build another
    model: open_clip builds the name at its own image size and resizes the weights to it ("" when
    the sizes agree, or the architecture is a `local-dir:` config, which has no name to load)."""
    if model.name.startswith(LOCAL_DIR):
        return ""
    native = native_image_size(model.name)
    if native == model.image_size:
        return ""
    return (
        f"open_clip builds {model.name} at {native} px but this model is {model.image_size} px: "
        f"create_model_and_transforms({model.name!r}, pretrained=FILE) would load it quietly at "
        f"{native} px and score another number; load it with "
        f"create_model_and_transforms('{LOCAL_DIR}{out_dir}') (see {out_dir}/{EXPORT_README_FILE})"
    )
