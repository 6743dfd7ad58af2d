"""Image and text towers, heads, linear encoders, and the model every method trains."""

from mmcl.models.model import ContrastiveModel, ModelConfig, build_model
from mmcl.models.open_clip_model import OpenCLIPModel
from mmcl.models.tokenizer import Tokenizer, tokenizer_for

__all__ = [
    "ContrastiveModel",
    "ModelConfig",
    "OpenCLIPModel",
    "Tokenizer",
    "build_model",
    "tokenizer_for",
]
