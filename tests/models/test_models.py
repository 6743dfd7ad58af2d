"""Towers and the model interface every eval task relies on."""

from __future__ import annotations

import pytest
import torch

from mmcl.errors import MMCLError
from mmcl.models import ModelConfig, Tokenizer, build_model
from mmcl.models.linear import LinearEncoder


@pytest.mark.parametrize("image", ["small_cnn", "resnet18"])
def test_image_towers_give_features_and_unit_embeddings(image):
    model = build_model(
        ModelConfig(image=image, width=4, embed_dim=16), 32, with_text=False, num_classes=5
    )
    images = torch.randn(3, 3, 32, 32)
    features = model.backbone_features(images)
    assert features.shape == (3, model.image_tower.feature_dim)
    embedding = model.encode_image(images)
    assert embedding.shape == (3, 16)
    assert torch.allclose(embedding.norm(dim=-1), torch.ones(3), atol=1e-5)
    assert model.classify(images).shape == (3, 5)
    with pytest.raises(MMCLError, match="text tower"):
        model.encode_text(torch.zeros(1, 4, dtype=torch.long))


def test_text_tower_reads_open_clip_bpe_tokens():
    model = build_model(
        ModelConfig(width=4, text_width=32, text_layers=1, text_heads=2, embed_dim=16),
        32,
        with_text=True,
    )
    tokens = Tokenizer(32)(["a red circle", "a blue square on grass"])
    embedding = model.encode_text(tokens)
    assert embedding.shape == (2, 16)
    assert not torch.allclose(embedding[0], embedding[1])


def test_open_clip_architecture_by_name_builds_its_vision_tower():
    model = build_model(
        ModelConfig(image="open_clip", open_clip_name="RN50", projection="none"),
        64,
        with_text=False,
    )
    assert model.backbone_features(torch.randn(1, 3, 64, 64)).shape == (1, 1024)


def test_unknown_open_clip_name_and_missing_weights_are_clear_errors(tmp_path):
    with pytest.raises(MMCLError, match="open_clip"):
        build_model(ModelConfig(image="open_clip", open_clip_name="ViT-Q-99"), 32, False)
    with pytest.raises(MMCLError, match="never downloaded"):
        build_model(ModelConfig(pretrained=str(tmp_path / "w.pt")), 32, False)


def test_a_text_tower_that_only_works_inside_its_model_is_one_clear_error(monkeypatch):
    """A SigLIP-like architecture: a timm trunk without output_dim, a text tower of its own."""
    import open_clip

    class TimmTrunk(torch.nn.Module):
        pass

    class CustomText(torch.nn.Module):
        pass

    class SigLIPLike(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.visual, self.text = TimmTrunk(), CustomText()

    monkeypatch.setattr(open_clip, "create_model", lambda *args, **kwargs: SigLIPLike())
    cfg = ModelConfig(open_clip_name="ViT-B-16-SigLIP", text="open_clip")
    with pytest.raises(MMCLError) as error:
        build_model(cfg, 32, with_text=True)
    message = str(error.value)
    assert "'ViT-B-16-SigLIP'" in message and "CustomText" in message
    assert "model.image=open_clip and model.text=open_clip" in message
    image_only = build_model(ModelConfig(image="open_clip", open_clip_name="ViT-B-16-SigLIP",
                                         projection="none"), 32, with_text=False)  # fmt: skip
    assert image_only.image_tower.feature_dim == 768  # a timm trunk: the config's embed_dim


def test_pretrained_local_checkpoint_round_trips(tmp_path):
    cfg = ModelConfig(width=4, embed_dim=8)
    model = build_model(cfg, 32, with_text=False)
    torch.save({"model": model.state_dict()}, tmp_path / "w.pt")
    cfg.pretrained = str(tmp_path / "w.pt")
    again = build_model(cfg, 32, with_text=False)
    x = torch.randn(2, 3, 32, 32)
    model.eval(), again.eval()
    assert torch.equal(model.encode_image(x), again.encode_image(x))


def test_linear_encoder_is_a_plain_matrix():
    encoder = LinearEncoder(5, 3)
    x = torch.randn(4, 5)
    assert torch.allclose(encoder(x), x @ encoder.weight.T)


def test_text_tower_trims_padding_without_changing_open_clips_output():
    from open_clip.transformer import TextTransformer

    model = build_model(
        ModelConfig(width=4, text_width=32, text_layers=1, text_heads=2, embed_dim=16),
        32,
        with_text=True,
    ).eval()
    reference = TextTransformer(context_length=32, width=32, heads=2, layers=1, output_dim=16)
    missing, _ = reference.load_state_dict(model.text_tower.state_dict(), strict=False)
    assert not missing
    tokens = Tokenizer(32)(["a red circle", "a blue square on a grass background, top left"])
    assert torch.allclose(
        reference.eval()(tokens), model.encode_text(tokens, normalize=False), atol=1e-5
    )


def test_pretrained_accepts_an_mmcl_training_checkpoint(tmp_path):
    from mmcl.methods import DataInfo, MethodConfig, build_method

    cfg = ModelConfig(width=4, embed_dim=8)
    method = build_method(MethodConfig(name="simclr"), cfg, DataInfo(32, 4))
    torch.save({"method": method.state_dict(), "step": 3}, tmp_path / "step.pt")
    again = build_model(
        ModelConfig(width=4, embed_dim=8, projection="mlp", pretrained=str(tmp_path / "step.pt")),
        32,
        with_text=False,
    )
    x = torch.randn(2, 3, 32, 32)
    method.model.eval(), again.eval()
    assert torch.equal(method.model.encode_image(x), again.encode_image(x))


def test_grad_checkpointing_recomputes_open_clip_blocks_with_the_same_gradients():
    def gradients(checkpointing: bool) -> list[torch.Tensor]:
        torch.manual_seed(0)
        cfg = ModelConfig(
            image="open_clip",
            open_clip_name="ViT-S-32",
            projection="none",
            grad_checkpointing=checkpointing,
        )
        model = build_model(cfg, 32, with_text=False)
        torch.manual_seed(1)
        model.encode_image(torch.randn(2, 3, 32, 32)).sum().backward()
        flags = [m.grad_checkpointing for m in model.modules() if hasattr(m, "grad_checkpointing")]
        assert flags and all(flag == checkpointing for flag in flags)
        return [p.grad for p in model.parameters() if p.grad is not None]

    for plain, recomputed in zip(gradients(False), gradients(True), strict=True):
        torch.testing.assert_close(plain, recomputed)


def test_grad_checkpointing_on_a_tower_without_it_names_the_flag():
    with pytest.raises(MMCLError, match="model.grad_checkpointing"):
        build_model(ModelConfig(width=4, grad_checkpointing=True), 32, with_text=False)
