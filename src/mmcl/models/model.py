"""The one model type every method trains and every eval task reads.

A model is an image tower plus optional parts: a projection into the loss space, a text tower
(CLIP), a class head (supervised) and a learnable logit scale. Eval tasks use only the interface
`backbone_features`, `encode_image`, `encode_text`, `classify`, so a new method never needs a new
evaluator.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from mmcl.config import check_choice, check_range
from mmcl.errors import MMCLError
from mmcl.losses import MAX_LOG_LOGIT_SCALE
from mmcl.models.compact import compact_table
from mmcl.models.heads import HEAD_KINDS, projection_head
from mmcl.models.image import IMAGE_TOWERS, ImageTowerSpec
from mmcl.models.open_clip_model import (
    EXPORT_WEIGHTS_FILE,
    LOCAL_DIR,
    WEIGHTS_FILE,
    OpenCLIPModel,
    is_open_clip_state,
)
from mmcl.models.text import TEXT_TOWERS, TextTowerSpec
from mmcl.models.tokenizer import tokenizer_for
from mmcl.models.vocabulary import VOCABULARIES, bpe_vocabulary_ids, vocabulary_ids
from mmcl.tensor_files import read_tensor_file

AUTO, FULL = "auto", "full"  # model.vocab besides a world name


@dataclass
class ModelConfig:
    image: str = "small_cnn"  # small_cnn | resnet18 | resnet50 | open_clip | timm
    width: int = 16  # small_cnn width (features = 8 * width)
    text: str = "small_transformer"  # small_transformer | open_clip
    text_width: int = 128
    text_layers: int = 2
    text_heads: int = 4
    context_length: int = 32  # shapes captions are < 25 BPE tokens
    embed_dim: int = 128  # joint / projection space
    projection: str = "linear"  # none | linear | mlp
    # open_clip architecture (e.g. ViT-B-32, ViT-B-16-SigLIP); with image and text both
    # open_clip the model is open_clip's whole CLIP, in its layout, with its own tokenizer
    open_clip_name: str = ""
    timm_name: str = ""  # architecture for image = timm
    pretrained: str = ""  # local checkpoint (mmcl's or open_clip's layout); never downloaded
    init_temperature: float = 0.07  # CLIP's initial temperature, learnable
    # channels_last memory format: faster cuDNN convolutions. None (default): on CUDA only; on
    # the CPU it saves ~5% but sums BatchNorm in another order than a DDP run does.
    channels_last: bool | None = None
    grad_checkpointing: bool = False  # recompute open_clip / timm blocks in backward: less memory
    # Token table rows kept (`mmcl.models.compact`): "full" keeps all 49,408; a world name keeps
    # only the ids its captions and prompts can contain (bit-identical losses, faster steps,
    # ~20x smaller checkpoints); "auto" becomes the trained world's name when the run config
    # loads (`resolve_vocab`) if that world lists its words (`models.vocabulary`), else full.
    vocab: str = AUTO

    def validate(self) -> None:
        check_choice("model.image", self.image, IMAGE_TOWERS.names())
        check_choice("model.text", self.text, TEXT_TOWERS.names())
        check_choice("model.projection", self.projection, HEAD_KINDS)
        check_range("model.width", self.width, 1)
        check_range("model.text_width", self.text_width, 1)
        check_range("model.text_layers", self.text_layers, 1)
        check_range("model.text_heads", self.text_heads, 1)
        check_range("model.context_length", self.context_length, 1)
        check_range("model.embed_dim", self.embed_dim, 1)
        check_range("model.init_temperature", self.init_temperature, 1e-3, 10)
        check_choice("model.vocab", self.vocab, [AUTO, FULL, *VOCABULARIES])

    def resolve_vocab(self, data_format: str, world: str) -> None:
        """Turn `auto` into the trained world's vocabulary (full for files and for worlds that
        list no words); refuse the vocabulary of a world other than the one trained on."""
        generated = data_format == "world" and world in VOCABULARIES
        if self.vocab == AUTO:
            self.vocab = world if generated else FULL
        elif self.vocab != FULL and not (generated and self.vocab == world):
            raise MMCLError(
                f"model.vocab={self.vocab} keeps only that world's tokens, but the run trains "
                f"on {world if data_format == 'world' else data_format} data: set model.vocab="
                "auto (or full)"
            )

    @property
    def whole_open_clip(self) -> bool:
        """Both towers from open_clip: build open_clip's own model, not mmcl's assembly."""
        return self.image == "open_clip" and self.text == "open_clip"


class ContrastiveModel(nn.Module):
    def __init__(
        self,
        image_tower: nn.Module,
        image_projection: nn.Module,
        text_tower: nn.Module | None = None,
        classifier: nn.Module | None = None,
        init_temperature: float = 0.07,
    ) -> None:
        super().__init__()
        self.image_tower = image_tower
        self.image_projection = image_projection
        self.text_tower = text_tower
        self.classifier = classifier
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1.0 / init_temperature)))

    @property
    def has_text(self) -> bool:
        return self.text_tower is not None

    @property
    def has_classifier(self) -> bool:
        return self.classifier is not None

    def backbone_features(self, images: torch.Tensor) -> torch.Tensor:
        return self.image_tower(images)  # (B, F)

    def encode_image(self, images: torch.Tensor, normalize: bool = True) -> torch.Tensor:
        z = self.image_projection(self.image_tower(images))  # (B, D)
        return F.normalize(z, dim=-1) if normalize else z

    def encode_text(self, tokens: torch.Tensor, normalize: bool = True) -> torch.Tensor:
        if self.text_tower is None:
            raise MMCLError(
                "this model has no text tower: zero-shot and retrieval need method=clip"
            )
        z = self.text_tower(tokens)  # (B, D)
        return F.normalize(z, dim=-1) if normalize else z

    def classify(self, images: torch.Tensor) -> torch.Tensor:
        if self.classifier is None:
            raise MMCLError("this model has no class head: use method=supervised")
        return self.classifier(self.image_tower(images))  # (B, C)

    def scale(self) -> torch.Tensor:
        """exp of the learnable log scale, clamped at 100 as CLIP does."""
        return self.logit_scale.clamp(max=MAX_LOG_LOGIT_SCALE).exp()


def build_model(
    cfg: ModelConfig, image_size: int, with_text: bool, num_classes: int = 0
) -> ContrastiveModel | OpenCLIPModel:
    """Assemble towers and heads from the config; `num_classes > 0` adds a class head."""
    if cfg.whole_open_clip and with_text and num_classes == 0:
        return _open_clip_model(cfg, image_size)
    image_tower = IMAGE_TOWERS.get(cfg.image)(
        ImageTowerSpec(cfg.width, image_size, cfg.open_clip_name, cfg.timm_name)
    )
    feature_dim = image_tower.feature_dim
    text_tower = None
    if with_text:
        spec = TextTowerSpec(
            cfg.text_width,
            cfg.text_layers,
            cfg.text_heads,
            cfg.context_length,
            cfg.embed_dim,
            cfg.open_clip_name,
        )
        text_tower = TEXT_TOWERS.get(cfg.text)(spec)
    embed_dim = cfg.embed_dim if text_tower is None else text_tower.output_dim
    model = ContrastiveModel(
        image_tower,
        projection_head(cfg.projection, feature_dim, embed_dim),
        text_tower,
        nn.Linear(feature_dim, num_classes) if num_classes > 0 else None,
        cfg.init_temperature,
    )
    if text_tower is not None:
        compact_vocabulary(model, cfg)
    if cfg.pretrained:
        load_weights(model, Path(cfg.pretrained))
    if cfg.grad_checkpointing:
        enable_grad_checkpointing(model, cfg)
    return model


def enable_grad_checkpointing(model: nn.Module, cfg: ModelConfig) -> None:
    """Turn on activation checkpointing in every tower that supports it (open_clip, timm).

    Those towers checkpoint per transformer block through their own `set_grad_checkpointing`;
    mmcl's small CPU towers do not, and asking for it with only those is an error.
    """
    towers = [m for m in model.modules() if hasattr(m, "set_grad_checkpointing")]
    if not towers:
        raise MMCLError(
            f"model.grad_checkpointing=true needs an open_clip or timm tower, but model.image="
            f"{cfg.image} and model.text={cfg.text} have none: set model.image=open_clip "
            "(or timm), or drop the flag"
        )
    for tower in towers:
        tower.set_grad_checkpointing(True)


def _open_clip_model(cfg: ModelConfig, image_size: int) -> OpenCLIPModel:
    if not cfg.open_clip_name:
        raise MMCLError("model.image=open_clip needs model.open_clip_name (e.g. ViT-B-32)")
    path = weights_file(Path(cfg.pretrained.removeprefix(LOCAL_DIR))) if cfg.pretrained else None
    if path is not None and (path.suffix == ".safetensors" or is_open_clip_state(_read(path))):
        model = OpenCLIPModel(cfg.open_clip_name, image_size, weights=path)
        compact_vocabulary(model, cfg)
    else:  # no weights, or an mmcl checkpoint of this model (keys under `clip.`)
        model = OpenCLIPModel(cfg.open_clip_name, image_size)
        compact_vocabulary(model, cfg)
        if path is not None:
            load_weights(model, path)
    if cfg.grad_checkpointing:
        enable_grad_checkpointing(model, cfg)
    return model


def compact_vocabulary(model: ContrastiveModel | OpenCLIPModel, cfg: ModelConfig) -> None:
    """Cut the text tower's token table to `cfg.vocab`'s ids (after its initialisation,
    so the random stream is today's); `full`, and `auto` never resolved, keep the full table."""
    if cfg.vocab in (AUTO, FULL):
        return
    owner = token_table_owner(model, cfg)
    if cfg.whole_open_clip:  # the architecture's own tokenizer, and its own ids
        ids, bpe = vocabulary_ids(cfg.vocab, tokenizer_for(cfg)), False
    else:
        ids, bpe = bpe_vocabulary_ids(cfg.vocab), True
    compact_table(owner, ids, cfg.vocab, bpe)


def token_table_owner(model: nn.Module, cfg: ModelConfig) -> nn.Module:
    """The module whose `token_embedding` is the text tower's table (mmcl's text tower, or
    open_clip's CLIP / its `text` tower); an MMCLError for towers without one (Hugging Face)."""
    candidates = [getattr(model, "text_tower", None), getattr(model, "clip", None)]
    candidates.append(getattr(candidates[1], "text", None))
    for owner in candidates:
        if isinstance(getattr(owner, "token_embedding", None), nn.Embedding):
            return owner
    raise MMCLError(
        f"model.vocab={cfg.vocab}: this text tower has no token table to compact; set "
        "model.vocab=full"
    )


OPEN_CLIP_WEIGHT_FILES = (EXPORT_WEIGHTS_FILE, WEIGHTS_FILE)


def weights_file(path: Path) -> Path:
    """The weights file itself, or the one inside an open_clip model folder (`local-dir:`)."""
    if path.is_dir():
        found = [path / name for name in OPEN_CLIP_WEIGHT_FILES if (path / name).is_file()]
        if not found:
            raise MMCLError(
                f"model.pretrained={str(path)!r} is a folder without "
                f"{' or '.join(OPEN_CLIP_WEIGHT_FILES)}"
            )
        return found[0]
    if not path.is_file():
        raise MMCLError(
            f"model.pretrained={str(path)!r}: file not found (weights are never downloaded)"
        )
    return path


def _read(path: Path) -> dict:
    """The file's state dict, read without running code (`mmcl.tensor_files`)."""
    state = read_tensor_file(path, "model.pretrained=")
    if not isinstance(state, dict):
        raise MMCLError(f"model.pretrained={str(path)!r} holds no state dict (tensors by name)")
    return state


def load_weights(model: nn.Module, path: Path) -> None:
    """Load a local state dict (an mmcl checkpoint or a bare state dict), strictly."""
    state = _read(weights_file(path))
    if "method" in state:  # an mmcl training checkpoint: the model sits inside the method
        prefix = "model."
        state = {k[len(prefix) :]: v for k, v in state["method"].items() if k.startswith(prefix)}
    state = state.get("model", state)
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise MMCLError(
            f"model.pretrained={str(path)!r} does not match the configured model: "
            f"missing {missing[:5]}, unexpected {unexpected[:5]}"
        )
