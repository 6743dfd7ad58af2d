"""Each method owns its settings (a section read through the registry) and the dataset it trains
on (`Method.training_dataset`): config keys and hashes as before, the index and text-positive
SimCLR runs through plain `mmcl train`, and the same weights as the hand-built trainers that
zhang2023 used before (the swapped dataset drew from the global RNG in the same order)."""

from __future__ import annotations

import json

import pytest
import torch
import yaml

from mmcl.cli import main
from mmcl.config import load_config, save_config, to_dict
from mmcl.errors import MMCLError
from mmcl.methods.base import ALWAYS_HELD, METHODS, Method, MethodConfig
from mmcl.methods.mcl_config import MCLConfig
from mmcl.methods.partner_views import PartnerViewDataset, caption_partners
from mmcl.methods.resampled_simclr import ResampledSimCLR, embed_split
from mmcl.methods.text_simclr import TextSimCLR
from mmcl.nn_index import build_neighbours
from mmcl.resampling import ResamplingConfig
from mmcl.runs import door
from mmcl.train.config import RunConfig
from mmcl.train.distributed import setup_runtime
from mmcl.train.trainer import Trainer

SHARED = ["name", "loss", "temperature", "augment", "label_smoothing"]
INDEX = ["method.name=resampled_simclr", "method.resampling.neighbours=index"]


def test_sections_are_the_methods_own_and_written_where_they_always_were():
    assert METHODS.get("resampled_simclr").settings_cls is ResamplingConfig
    assert METHODS.get("mcl").settings_cls is MCLConfig
    for name in ("clip", "simclr", "supervised", "text_simclr", "mcl", "resampled_simclr"):
        method = to_dict(MethodConfig(name=name))
        assert list(method) == [*SHARED, *ALWAYS_HELD]  # as every config was written before
    cfg = load_config(RunConfig, None, ["method.mcl.stages=2", "method.resampling.index_k=9"])
    assert cfg.method.mcl.stages == 2 and cfg.method.resampling.index_k == 9
    assert to_dict(cfg)["method"]["mcl"]["stages"] == 2


def test_a_saved_config_reads_back_to_the_same_config(tmp_path):
    cfg = load_config(RunConfig, None, ["method.name=mcl", "method.mcl.base=clip"])
    save_config(cfg, tmp_path / "config.yaml")
    assert yaml.safe_load((tmp_path / "config.yaml").read_text())["method"]["mcl"]["base"] == "clip"
    assert load_config(RunConfig, tmp_path / "config.yaml") == cfg


def test_settings_keys_are_checked_with_suggestions():
    with pytest.raises(MMCLError, match=r"'method.resampling.neighbors'; did you mean "):
        load_config(RunConfig, None, ["method.resampling.neighbors=index"])
    with pytest.raises(MMCLError, match=r"'method.mlc'; did you mean 'method.mcl'"):
        load_config(RunConfig, None, ["method.mlc.stages=2"])
    with pytest.raises(MMCLError, match=r"'method.mcl.base' = 'supervised' is not valid"):
        load_config(RunConfig, None, ["method.name=mcl", "method.mcl.base=supervised"])
    with pytest.raises(AttributeError, match="did you mean 'resampling'"):
        MethodConfig().resampld  # noqa: B018


@pytest.mark.parametrize(
    "method",
    [[*INDEX, "method.resampling.teacher=label_oracle"], ["method.name=text_simclr"]],
    ids=["index", "text"],
)
def test_methods_that_read_world_images_refuse_files_at_validation(method, tmp_path):
    files = ["data.format=imagefolder", f"data.path={tmp_path}", f"data.val_path={tmp_path}"]
    with pytest.raises(MMCLError, match="data.format=imagefolder is read from files"):
        load_config(RunConfig, None, [*files, *method])
    with pytest.raises(MMCLError, match="is read from files"):  # also as MCL's base
        load_config(RunConfig, None, [*files, "method.name=mcl", "method.mcl.base=text_simclr"])


def _metrics(run_dir) -> list[dict]:
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [m for m in map(json.loads, lines) if "loss" in m]


def test_index_neighbours_train_through_plain_mmcl_train(tiny_overrides, tmp_path):
    config = tmp_path / "index.yaml"
    config.write_text("name: index\n")
    oracle = [*INDEX, "method.resampling.teacher=label_oracle"]  # neighbours share the class
    assert main(["train", str(config), *tiny_overrides, *oracle, "--no-eval"]) == 0
    steps = _metrics(tmp_path / "runs" / "index")
    assert len(steps) == 6 and all(m["new_positive_same_class"] == 1.0 for m in steps)


def test_text_positives_train_through_plain_mmcl_train(tiny_overrides, tmp_path):
    config = tmp_path / "text.yaml"
    config.write_text("name: text\n")
    text = [*tiny_overrides, "method.name=text_simclr"]
    assert main(["train", str(config), *text, "--no-eval"]) == 0
    assert len(_metrics(tmp_path / "runs" / "text")) == 6
    cfg = load_config(RunConfig, None, text)
    dataset = Trainer(cfg, tmp_path / "look", setup_runtime("cpu")).dataset
    assert isinstance(dataset, PartnerViewDataset) and dataset.mode == "replace"
    batch = dataset.__getitems__(list(range(64)))
    partners = batch.attributes["partner_index"]
    captions = dataset.split.captions
    assert all(captions[int(p)] == captions[i] for i, p in enumerate(partners))
    assert (partners != torch.arange(64)).any()  # another image, not a second view of itself


def _weights(method: Method) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in method.state_dict().items()}


def _assert_same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def _before(cfg: RunConfig, run_dir, swap, monkeypatch) -> Method:
    """zhang2023's trainer before issue 29: the trainer's own dataset and sampler, then `swap`
    (the index built from the trained method's teacher, or caption partners) put in its place."""
    run_dir.mkdir()
    with monkeypatch.context() as patch:
        for method in (ResampledSimCLR, TextSimCLR):
            patch.setattr(method, "training_dataset", Method.training_dataset)
        trainer = Trainer(cfg, run_dir, setup_runtime("cpu"))
    trainer.dataset = swap(trainer)
    return trainer.fit()


def _after(cfg: RunConfig, run_dir) -> Method:
    run_dir.mkdir()
    return Trainer(cfg, run_dir, setup_runtime("cpu")).fit()


def _index_swap(trainer: Trainer) -> PartnerViewDataset:
    split, settings = trainer.dataset.split, trainer.cfg.method.resampling
    neighbours = build_neighbours(embed_split(trainer.method.teacher, split), settings.index_k)
    return PartnerViewDataset(split, neighbours.indices, "append", trainer.cfg.method.augment)


def _text_swap(trainer: Trainer) -> PartnerViewDataset:
    split = trainer.dataset.split
    partners = caption_partners(split.captions, seed=trainer.cfg.train.seed)
    return PartnerViewDataset(split, partners, "replace", trainer.cfg.method.augment)


def test_index_run_trains_the_weights_the_hand_built_trainer_did(
    tiny_overrides, tmp_path, monkeypatch
):
    """A clip_run teacher draws from the global RNG as it loads (it builds a model): the index,
    now built inside the trainer, must draw at the same point as it did after it."""
    base = [*tiny_overrides, "train.steps=3", "train.seed=5"]
    teacher = load_config(RunConfig, None, [*base, "name=teacher", "method.name=clip"])
    door.trained(teacher, tmp_path / "teacher")
    clip_run = [f"method.resampling.teacher_path={tmp_path / 'teacher'}"]
    cfg = load_config(RunConfig, None, [*base, *INDEX, "method.resampling.teacher=clip_run",
                                        *clip_run])  # fmt: skip
    before = _weights(_before(cfg, tmp_path / "before", _index_swap, monkeypatch))
    method = _after(cfg, tmp_path / "after")
    assert method.index_seconds > 0 and method.neighbours.indices.shape == (512, 5)
    _assert_same(_weights(method), before)


def test_text_run_trains_the_weights_the_hand_built_trainer_did(
    tiny_overrides, tmp_path, monkeypatch
):
    base = [*tiny_overrides, "train.steps=3", "train.seed=5"]
    simclr = load_config(RunConfig, None, [*base, "method.name=simclr"])
    before = _weights(_before(simclr, tmp_path / "before", _text_swap, monkeypatch))
    cfg = load_config(RunConfig, None, [*base, "method.name=text_simclr"])
    _assert_same(_weights(_after(cfg, tmp_path / "after")), before)
