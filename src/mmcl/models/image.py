"""Image towers: a small CNN for CPU work, torchvision ResNets, timm and open_clip vision towers.

Every tower maps (B, 3, H, W) normalized images to (B, F) pooled features and exposes
`feature_dim = F`. Weights start random: nothing is downloaded; a local checkpoint can be
loaded by the model factory.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torchvision
from torch import nn

from mmcl.errors import MMCLError
from mmcl.registry import Registry

IMAGE_TOWERS: Registry = Registry("image tower")


@dataclass
class ImageTowerSpec:
    """What a tower factory needs to know (a slice of the model config)."""

    width: int = 32  # small_cnn: channels of the first stage; doubles per stage
    image_size: int = 32
    open_clip_name: str = ""  # open_clip architecture, e.g. "ViT-B-32"
    timm_name: str = ""  # timm architecture, e.g. "vit_tiny_patch16_224"


def _conv_bn_relu(c_in: int, c_out: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


class SmallCNN(nn.Module):
    """Four conv stages (stride 1, 2, 2, 2) and global average pooling: the CPU default tower."""

    def __init__(self, width: int = 32) -> None:
        super().__init__()
        w = width
        self.layers = nn.Sequential(
            _conv_bn_relu(3, w, 1),
            _conv_bn_relu(w, 2 * w, 2),
            _conv_bn_relu(2 * w, 2 * w, 1),
            _conv_bn_relu(2 * w, 4 * w, 2),
            _conv_bn_relu(4 * w, 4 * w, 1),
            _conv_bn_relu(4 * w, 8 * w, 2),
            _conv_bn_relu(8 * w, 8 * w, 1),
        )
        self.feature_dim = 8 * w

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.layers(images).mean(dim=(2, 3))  # (B, 8w)


class TorchvisionResNet(nn.Module):
    """A torchvision ResNet without its classifier; CIFAR stem (3x3, no max-pool) below 96 px."""

    def __init__(self, arch: str, image_size: int) -> None:
        super().__init__()
        net = getattr(torchvision.models, arch)(weights=None)
        if image_size < 96:
            net.conv1 = nn.Conv2d(3, 64, 3, stride=1, padding=1, bias=False)
            net.maxpool = nn.Identity()
        self.feature_dim = net.fc.in_features
        net.fc = nn.Identity()
        self.net = net

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images)  # (B, 512 | 2048)


class OpenCLIPVisual(nn.Module):
    """The vision tower of any open_clip architecture (random init; see model.pretrained)."""

    def __init__(self, name: str, image_size: int) -> None:
        super().__init__()
        from mmcl.models.open_clip_model import create_open_clip, embed_dim

        self.visual = create_open_clip(name, image_size).visual
        dim = getattr(self.visual, "output_dim", None)  # timm trunks: the joint space's width
        self.feature_dim = dim if isinstance(dim, int) else embed_dim(name)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.visual(images)


def unbuildable_tower(name: str, kind: str, tower: str) -> str:
    """Why an open_clip architecture's tower cannot stand alone, and what to use instead."""
    return (
        f"model.open_clip_name={name!r}: its {kind} tower ({tower}) works only inside its own "
        "model; set model.image=open_clip and model.text=open_clip to use the whole open_clip "
        "model, or model.text=small_transformer"
    )


@IMAGE_TOWERS.register("small_cnn")
def small_cnn(spec: ImageTowerSpec) -> nn.Module:
    return SmallCNN(spec.width)


@IMAGE_TOWERS.register("resnet18")
def resnet18(spec: ImageTowerSpec) -> nn.Module:
    return TorchvisionResNet("resnet18", spec.image_size)


@IMAGE_TOWERS.register("resnet50")
def resnet50(spec: ImageTowerSpec) -> nn.Module:
    return TorchvisionResNet("resnet50", spec.image_size)


@IMAGE_TOWERS.register("open_clip")
def open_clip_visual(spec: ImageTowerSpec) -> nn.Module:
    if not spec.open_clip_name:
        raise MMCLError("model.image=open_clip needs model.open_clip_name (e.g. ViT-B-32)")
    return OpenCLIPVisual(spec.open_clip_name, spec.image_size)


@IMAGE_TOWERS.register("timm")
def timm_tower(spec: ImageTowerSpec) -> nn.Module:
    try:
        import timm
    except ImportError:
        raise MMCLError("model.image=timm needs timm: pip install 'mmcl[timm]'") from None
    if not spec.timm_name:
        raise MMCLError("model.image=timm needs model.timm_name (e.g. vit_tiny_patch16_224)")
    net = timm.create_model(
        spec.timm_name, pretrained=False, num_classes=0, img_size=spec.image_size
    )
    net.feature_dim = net.num_features
    return net
