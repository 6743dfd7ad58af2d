"""Whole open_clip models in mmcl: any architecture family, open_clip's checkpoints in, open_clip
model folders out, and the same features and zero-shot logits as open_clip's own forward.

Tiny configs of each family (registered with `open_clip.add_model_config`) keep this fast; the
real architectures are checked by the slow test at the end.
"""

from __future__ import annotations

import json

import open_clip
import pytest
import torch

from mmcl.cli import main
from mmcl.data.world_dataset import normalize
from mmcl.errors import MMCLError
from mmcl.models import ModelConfig, OpenCLIPModel, build_model, tokenizer_for
from mmcl.models.open_clip_model import export_open_clip
from mmcl.runs.training import load_trained

from ..conftest import TINY as TINY_RUN
from ..train.runs import write_config

TEXT = {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1}
TINY = {  # one per family: OpenAI ViT, modified ResNet, timm ConvNeXt, SigLIP, EVA
    "mmcl-tiny-vit": {"embed_dim": 32, "text_cfg": TEXT,
                      "vision_cfg": {"image_size": 32, "layers": 2, "width": 64, "patch_size": 8}},
    "mmcl-tiny-rn": {"embed_dim": 32, "text_cfg": TEXT,
                     "vision_cfg": {"image_size": 64, "layers": [1, 1, 1, 1], "width": 8,
                                    "patch_size": None}},
    "mmcl-tiny-convnext": {"embed_dim": 32, "text_cfg": TEXT,
                           "vision_cfg": {"timm_model_name": "convnext_atto", "image_size": 32,
                                          "timm_model_pretrained": False, "timm_pool": "",
                                          "timm_proj": "linear"}},
    # SigLIP's towers (MAP-pooled timm ViT, non-causal text); not named "siglip", which would
    # make open_clip pick SigLIP's hub tokenizer
    "mmcl-tiny-sigmoid": {"embed_dim": 192, "init_logit_bias": -10, "custom_text": True,
                         "vision_cfg": {"image_size": 224, "timm_pool": "map", "timm_proj": "none",
                                        "timm_model_name": "vit_tiny_patch16_224",
                                        "timm_model_pretrained": False},
                         "text_cfg": {**TEXT, "no_causal_mask": True, "proj_bias": True,
                                      "pool_type": "last", "norm_kwargs": {"eps": 1e-6}}},
    "mmcl-tiny-eva": {"embed_dim": 32, "custom_text": True, "text_cfg": TEXT,
                      "vision_cfg": {"image_size": 224, "timm_pool": "token", "timm_proj": None,
                                     "timm_model_name": "eva02_tiny_patch14_224",
                                     "timm_model_pretrained": False}},
}  # fmt: skip
CAPTIONS = ["a photo of a red circle.", "a square on a grass background."]
ATOL = 1e-5  # same weights, same pixels, float32 on the CPU: equal up to summation order


@pytest.fixture(scope="module")
def tiny_configs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("open_clip_configs")
    for name, config in TINY.items():
        (folder / f"{name}.json").write_text(json.dumps(config))
    open_clip.add_model_config(folder)
    return TINY


def _size(name: str) -> int:
    return TINY[name]["vision_cfg"]["image_size"]


def _pixels(size: int) -> torch.Tensor:
    return torch.rand(2, 3, size, size, generator=torch.Generator().manual_seed(0))


def _open_clip_input(reference, pixels: torch.Tensor) -> torch.Tensor:
    """What open_clip's own preprocessing makes of [0, 1] pixels: its model's mean and std."""
    cfg = reference.visual.preprocess_cfg
    mean, std = (torch.tensor(cfg[k]).view(1, 3, 1, 1) for k in ("mean", "std"))
    return (pixels - mean) / std


def _same_as_open_clip(model: OpenCLIPModel, reference, name: str) -> None:
    pixels = _pixels(_size(name))
    tokens = open_clip.get_tokenizer(name)(CAPTIONS)
    with torch.no_grad():
        ref_image = reference.encode_image(_open_clip_input(reference, pixels), normalize=True)
        ref_text = reference.encode_text(tokens, normalize=True)
        image = model.encode_image(normalize(pixels))  # mmcl's inputs: OpenAI statistics
        cfg = ModelConfig(image="open_clip", text="open_clip", open_clip_name=name)
        text = model.encode_text(tokenizer_for(cfg)(CAPTIONS))
    torch.testing.assert_close(image, ref_image, atol=ATOL, rtol=0)
    torch.testing.assert_close(text, ref_text, atol=ATOL, rtol=0)
    ref_logits = reference.logit_scale.exp() * ref_image @ ref_text.T
    torch.testing.assert_close(model.scale() * image @ text.T, ref_logits, atol=1e-4, rtol=0)


@pytest.mark.parametrize("name", sorted(TINY))
def test_an_open_clip_checkpoint_loads_and_gives_open_clips_features(tiny_configs, tmp_path, name):
    torch.manual_seed(0)
    reference = open_clip.create_model(name, pretrained=None).eval()
    with torch.no_grad():  # not the init: a model mmcl could not rebuild by chance
        for parameter in reference.parameters():
            parameter.add_(0.01 * torch.randn_like(parameter))
    path = tmp_path / "open_clip.pt"
    torch.save({"state_dict": {f"module.{k}": v for k, v in reference.state_dict().items()}}, path)
    cfg = ModelConfig(
        image="open_clip", text="open_clip", open_clip_name=name, pretrained=str(path)
    )
    model = build_model(cfg, _size(name), with_text=True).eval()
    assert isinstance(model, OpenCLIPModel)
    _same_as_open_clip(model, reference, name)


@pytest.mark.parametrize("name", ["mmcl-tiny-vit", "mmcl-tiny-sigmoid"])
def test_an_mmcl_model_exports_to_a_folder_open_clip_loads(tiny_configs, tmp_path, name):
    cfg = ModelConfig(image="open_clip", text="open_clip", open_clip_name=name)
    model = build_model(cfg, _size(name), with_text=True)
    with torch.no_grad():  # stands for training: weights open_clip's init does not give
        for parameter in model.parameters():
            parameter.add_(0.01 * torch.randn_like(parameter))
    folder = export_open_clip(model.eval(), tmp_path / "export")
    loaded, _, preprocess = open_clip.create_model_and_transforms(f"local-dir:{folder}")
    _same_as_open_clip(model, loaded.eval(), name)
    again = build_model(
        ModelConfig(image="open_clip", text="open_clip", open_clip_name=name,
                    pretrained=f"local-dir:{folder}"), _size(name), with_text=True
    ).eval()  # fmt: skip
    _same_as_open_clip(again, loaded.eval(), name)


def test_a_checkpoint_of_another_architecture_is_one_clear_error(tiny_configs, tmp_path):
    other = open_clip.create_model("mmcl-tiny-rn", pretrained=None)
    torch.save(other.state_dict(), tmp_path / "rn.pt")
    cfg = ModelConfig(image="open_clip", text="open_clip", open_clip_name="mmcl-tiny-vit",
                      pretrained=str(tmp_path / "rn.pt"))  # fmt: skip
    with pytest.raises(MMCLError, match="not a mmcl-tiny-vit checkpoint in open_clip's layout"):
        build_model(cfg, 32, with_text=True)


@pytest.mark.slow
@pytest.mark.parametrize(
    "name",
    ["ViT-B-32", "RN50", "convnext_base_w", "ViT-B-16-SigLIP", "EVA02-B-16", "MobileCLIP-S1",
     "coca_ViT-B-32"],
)  # fmt: skip
def test_real_architectures_load_their_open_clip_checkpoints(tmp_path, name):
    """The families at full size (random init; a few seconds and ~1 GB of disk each)."""
    torch.manual_seed(0)
    reference = open_clip.create_model(name, pretrained=None).eval()
    torch.save(reference.state_dict(), tmp_path / "w.pt")
    size = reference.visual.image_size
    size = size[0] if isinstance(size, tuple | list) else size
    cfg = ModelConfig(image="open_clip", text="open_clip", open_clip_name=name,
                      pretrained=str(tmp_path / "w.pt"))  # fmt: skip
    model = build_model(cfg, size, with_text=True).eval()
    pixels = _pixels(size)
    tokens = torch.randint(1, 1000, (2, reference.context_length))  # no hub tokenizer needed
    with torch.no_grad():
        torch.testing.assert_close(
            model.encode_image(normalize(pixels)),
            reference.encode_image(_open_clip_input(reference, pixels), normalize=True),
            atol=1e-4, rtol=0,
        )  # fmt: skip
        torch.testing.assert_close(
            model.encode_text(tokens), reference.encode_text(tokens, normalize=True), atol=1e-4,
            rtol=0,
        )  # fmt: skip


def test_train_then_export_gives_a_model_open_clip_loads(tiny_configs, tmp_path, world_cache):
    """`mmcl train` with a whole open_clip model, then `mmcl export`: open_clip's own loader
    gives the trained model's features."""
    overrides = [*TINY_RUN, f"data.cache_dir={world_cache}", f"out_dir={tmp_path}", "name=oc",
                 "method.name=clip", "model.image=open_clip", "model.text=open_clip",
                 "model.open_clip_name=mmcl-tiny-vit", "eval.tasks=[zeroshot]"]  # fmt: skip
    assert main(["train", str(write_config(tmp_path / "oc.yaml", overrides))]) == 0
    assert main(["export", str(tmp_path / "oc")]) == 0
    _, method = load_trained(tmp_path / "oc")
    loaded, _, _ = open_clip.create_model_and_transforms(
        f"local-dir:{tmp_path}/oc/export_open_clip"
    )
    _same_as_open_clip(method.model.eval(), loaded.eval(), "mmcl-tiny-vit")
