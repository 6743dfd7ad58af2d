"""Image and text towers, heads, linear encoders, and the model every method trains."""

from mmcl.models.model import ContrastiveModel, ModelConfig, build_model
from mmcl.models.tokenizer import Tokenizer

__all__ = ["ContrastiveModel", "ModelConfig", "Tokenizer", "build_model"]
