"""The compact token table (`model.vocab`): the same losses as the full table, step for step; an
id outside the kept set is one clear error; exports load in open_clip at full size."""

from __future__ import annotations

import open_clip
import pytest
import torch

from mmcl.config import load_config
from mmcl.data.worlds import load_world
from mmcl.data.worlds.shapes import ATTRIBUTE_VALUES, ShapesConfig
from mmcl.errors import MMCLError
from mmcl.models import ModelConfig, Tokenizer, build_model
from mmcl.models.compact import CompactEmbedding
from mmcl.models.open_clip_model import export_open_clip
from mmcl.models.vocabulary import bpe_vocabulary_ids
from mmcl.runs.training import load_trained, train
from mmcl.train.config import RunConfig, as_written
from mmcl.train.distributed import setup_runtime
from mmcl.train.trainer import Trainer

from .test_open_clip_models import _same_as_open_clip, _size, tiny_configs  # noqa: F401

SMALL = dict(width=4, text_width=32, text_layers=1, text_heads=2, embed_dim=16)


def _trainer(overrides: list[str], vocab: str, folder) -> Trainer:
    cfg = load_config(RunConfig, None, [*overrides, "method.name=clip", f"model.vocab={vocab}"])
    return Trainer(cfg, folder, setup_runtime("cpu"))


def test_compact_steps_give_the_full_tables_losses_bit_for_bit(tiny_overrides, tmp_path):
    full = _trainer(tiny_overrides, "full", tmp_path / "full")
    compact = _trainer(tiny_overrides, "auto", tmp_path / "compact")
    table = compact.method.model.text_tower.token_embedding
    assert isinstance(table, CompactEmbedding) and len(table.weight) < 100
    batches = full._epoch_loader()
    for _ in range(5):  # grad clipping and fused AdamW included: the trainer's own step
        batch = next(batches)
        a = full._step(full.method, batch)["loss"]
        b = compact._step(compact.method, batch)["loss"]
        assert torch.equal(a, b)
    trained_full = full.method.model.text_tower.token_embedding.weight
    assert torch.equal(trained_full[table.kept_ids], table.weight)
    others = dict(compact.method.named_parameters())
    for name, parameter in full.method.named_parameters():
        if "token_embedding" not in name:
            assert torch.equal(parameter, others[name]), name


def test_auto_keeps_the_table_full_for_files_and_refuses_another_worlds_vocabulary():
    cfg = ModelConfig()
    cfg.resolve_vocab("world", "shapes")
    assert cfg.vocab == "shapes"
    files = ModelConfig()
    files.resolve_vocab("csv", "shapes")
    assert files.vocab == "full"
    with pytest.raises(MMCLError, match="model.vocab=shapes keeps only that world's tokens"):
        ModelConfig(vocab="shapes").resolve_vocab("csv", "shapes")
    with pytest.raises(MMCLError, match="model.vocab"):
        load_config(RunConfig, None, ["model.vocab=shapez"])


def test_every_text_the_world_feeds_a_model_is_kept(world_cache):
    """Captions of every richness, zero-shot prompts of every attribute as the class."""
    kept = set(bpe_vocabulary_ids("shapes").tolist())
    tokenizer = Tokenizer(64)
    for preset in ("full", "label"):
        world = ShapesConfig(n_train=64, n_test=8, caption_preset=preset)
        split = load_world(world, "sketch", world_cache)
        texts = split.captions + [t.format(v) for t in split.prompt_templates for v in
                                  sum(ATTRIBUTE_VALUES.values(), [])]  # fmt: skip
        assert set(tokenizer(texts).flatten().tolist()) <= kept


def test_an_id_outside_the_kept_set_is_one_error_naming_the_word():
    model = build_model(ModelConfig(vocab="shapes", **SMALL), 32, with_text=True)
    model.encode_text(Tokenizer(32)(["a photo of a red circle."]))  # the world's words pass
    with pytest.raises(MMCLError, match=r"token 'zebra' \(id \d+\) is not in this model's compact"):
        model.encode_text(Tokenizer(32)(["a red zebra."]))


def test_a_full_table_checkpoint_loads_into_a_compact_model(tmp_path):
    torch.manual_seed(0)
    full = build_model(ModelConfig(vocab="full", **SMALL), 32, with_text=True)
    path = tmp_path / "full.pt"
    torch.save(full.state_dict(), path)
    compact = build_model(
        ModelConfig(vocab="shapes", pretrained=str(path), **SMALL), 32, with_text=True
    )
    tokens = Tokenizer(32)(["a sketch of a star.", "a small blue heart on a sand background."])
    with torch.no_grad():
        torch.testing.assert_close(compact.encode_text(tokens), full.encode_text(tokens))


def test_the_same_seed_builds_the_same_kept_rows_and_the_same_next_draw():
    """The table is cut after its initialisation: the random stream goes on as with the full."""
    torch.manual_seed(3)
    full = build_model(ModelConfig(vocab="full", **SMALL), 32, with_text=True)
    after_full = torch.rand(4)
    torch.manual_seed(3)
    compact = build_model(ModelConfig(vocab="shapes", **SMALL), 32, with_text=True)
    after_compact = torch.rand(4)
    table = compact.text_tower.token_embedding
    assert torch.equal(after_full, after_compact)
    assert torch.equal(full.text_tower.token_embedding.weight[table.kept_ids], table.weight)


@pytest.mark.usefixtures("tiny_configs")
def test_a_compact_open_clip_model_exports_full_size_and_loads_strictly(tmp_path):
    name = "mmcl-tiny-vit"
    cfg = ModelConfig(image="open_clip", text="open_clip", open_clip_name=name, vocab="shapes")
    model = build_model(cfg, _size(name), with_text=True)
    assert isinstance(model.clip.token_embedding, CompactEmbedding)
    with torch.no_grad():  # stands for training: weights open_clip's init does not give
        for parameter in model.parameters():
            parameter.add_(0.01 * torch.randn_like(parameter))
    folder = export_open_clip(model.eval(), tmp_path / "export")
    loaded, _, _ = open_clip.create_model_and_transforms(f"local-dir:{folder}")  # strict load
    table = loaded.token_embedding.weight
    kept = model.clip.token_embedding.kept_ids
    assert table.shape[0] == 49408
    dropped = torch.ones(len(table), dtype=torch.bool)
    dropped[kept] = False
    assert not table[dropped].any() and table[kept].abs().sum(dim=1).gt(0).all()
    _same_as_open_clip(model, loaded.eval(), name)  # its captions are the world's words


def test_a_run_written_before_model_vocab_resumes_and_loads_with_its_full_table(
    tiny_overrides, tmp_path
):
    """A run saved before `model.vocab` existed (the key absent from its config.yaml and its
    checkpoints) resumes and loads as it was trained, with the full table, instead of being
    refused as an edited config or rebuilt compact under its full-size optimizer state."""
    overrides = [*tiny_overrides, "method.name=clip", "model.vocab=full", "train.steps=3"]
    run_dir = tmp_path / "old"
    train(load_config(RunConfig, None, overrides), run_dir)
    config = run_dir / "config.yaml"
    config.write_text(config.read_text().replace("  vocab: full\n", ""))  # as an older mmcl
    for path in (run_dir / "checkpoints").glob("step_*.pt"):
        payload = torch.load(path, weights_only=True)
        del payload["config"]["model"]["vocab"]
        torch.save(payload, path)
    assert load_config(RunConfig, config).model.vocab == "shapes"  # today's default would differ
    saved = load_config(RunConfig, config, prepare=as_written)
    assert saved.model.vocab == "full"
    train(saved, run_dir, resume=True)  # no "written with a different config"
    _, method = load_trained(run_dir)
    table = method.model.text_tower.token_embedding
    assert isinstance(table, torch.nn.Embedding) and table.num_embeddings == 49408
