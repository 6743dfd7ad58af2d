"""Evaluation at scale: real splits stay on disk and are decoded a batch at a time, bad images are
skipped with every row still aligned, features are cached by file identity, and under torchrun
each rank decodes only its share of the rows and all end up with the same features."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from mmcl.data import record_images
from mmcl.data.formats.bad_data import BadDataLog
from mmcl.data.formats.readers import read_records
from mmcl.data.record_dataset import lazy_records_split, records_to_split
from mmcl.data.record_images import RecordImages
from mmcl.distributed import Shards
from mmcl.errors import MMCLError
from mmcl.eval import suite
from mmcl.eval.features import FeatureCache
from mmcl.eval.split_features import Loading, split_features
from mmcl.eval.suite import EvalData, evaluate_model
from mmcl.models.model import ModelConfig, build_model
from mmcl.models.tokenizer import Tokenizer

from ..train.runs import run_two_processes

WORKER = Path(__file__).with_name("streamed_worker.py")
TEMPLATES = ["a photo of a {}."]
CLASSES = ("cat", "dog", "owl")
PER_CLASS = 3


def _load_worker():
    spec = importlib.util.spec_from_file_location("mmcl_tests_streamed_worker", WORKER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


worker = _load_worker()


def _png(path: Path, seed: int) -> None:
    pixels = np.random.default_rng(seed).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)


def image_folder(root: Path, corrupt: tuple[str, ...] = ()) -> Path:
    """CLASSES x PER_CLASS random 16 px PNGs; the files named in `corrupt` hold no image."""
    for c, name in enumerate(CLASSES):
        (root / name).mkdir(parents=True)
        for k in range(PER_CLASS):
            _png(root / name / f"{k}.png", seed=10 * c + k)
    for relative in corrupt:
        (root / relative).write_bytes(b"this is not a png")
    return root


def lazy_split(folder: Path, size: int = worker.IMAGE_SIZE):
    records = read_records("imagefolder", folder)
    return lazy_records_split(records, size, "val", TEMPLATES)


def loading(bad: BadDataLog | None = None, batch_size: int = 2) -> Loading:
    return Loading(batch_size, 0, Shards(), bad or BadDataLog(0.5, what="evaluation data"))


@pytest.fixture
def decodes(monkeypatch) -> list[str]:
    """The image files decoded (in this process) while the test runs."""
    seen: list[str] = []
    decode = record_images.decode_image

    def counting(source, size):
        seen.append(str(source))
        return decode(source, size)

    monkeypatch.setattr(record_images, "decode_image", counting)
    return seen


class ForwardLog(worker.LinearTower):
    """Notes how many images had been decoded at each forward pass."""

    def __init__(self, decodes: list[str]) -> None:
        super().__init__()
        self.decodes, self.decoded_at_forward = decodes, []

    def backbone_features(self, images: torch.Tensor) -> torch.Tensor:
        self.decoded_at_forward.append(len(self.decodes))
        return super().backbone_features(images)


def test_a_lazy_split_is_decoded_batch_by_batch_into_the_in_memory_features(tmp_path, decodes):
    folder = image_folder(tmp_path / "val")
    split = lazy_split(folder)
    assert isinstance(split.images, RecordImages) and decodes == []  # nothing decoded yet
    assert split.images.shape == (9, 3, 4, 4) and split.image_size == 4

    model = ForwardLog(decodes)
    streamed = split_features(model, split, None, len(split), loading())
    assert model.decoded_at_forward == [2, 4, 6, 8, 9]  # one batch decoded per forward pass

    records = read_records("imagefolder", folder)
    bad = BadDataLog(0.5)
    in_memory = records_to_split(records, worker.IMAGE_SIZE, "val", TEMPLATES, bad)
    assert isinstance(in_memory.images, torch.Tensor)
    reference = split_features(worker.LinearTower(), in_memory, None, 9, loading())
    torch.testing.assert_close(streamed.features, reference.features, atol=1e-6, rtol=0)
    assert torch.equal(streamed.labels, reference.labels)
    assert torch.equal(streamed.index, torch.arange(9))


def test_a_corrupt_image_is_counted_and_skipped_with_rows_aligned(tmp_path, decodes):
    folder = image_folder(tmp_path / "val", corrupt=("dog/1.png",))
    split = lazy_split(folder)
    bad = BadDataLog(0.2, what="evaluation data")
    fs = split_features(worker.LinearTower(), split, None, len(split), loading(bad))

    corrupt_row = split.images.files.index(str(folder / "dog" / "1.png"))
    assert fs.index.tolist() == [i for i in range(9) if i != corrupt_row]
    assert torch.equal(fs.labels, split.labels[fs.index])
    assert (bad.seen, bad.bad) == (9, 1)
    assert list(bad.by_source) == ["dog/1.png"]
    tower = worker.LinearTower()
    with torch.no_grad():  # each feature row is the image of the split row it names
        for row, features in zip(fs.index.tolist(), fs.features, strict=True):
            image = split.images[row].float().div(255)  # (3, 4, 4)
            mean = torch.tensor([0.48145466, 0.4578275, 0.40821073]).view(3, 1, 1)
            std = torch.tensor([0.26862954, 0.26130258, 0.27577711]).view(3, 1, 1)
            own = tower.backbone_features(((image - mean) / std)[None])[0]
            torch.testing.assert_close(features, own, atol=1e-5, rtol=0)


def test_bad_images_past_the_limit_stop_with_an_error_naming_the_file(tmp_path):
    folder = image_folder(tmp_path / "val", corrupt=("owl/2.png",))
    bad = BadDataLog(0.0, what="evaluation data")
    with pytest.raises(MMCLError, match=r"owl/2\.png.*data\.max_bad_fraction"):
        split_features(worker.LinearTower(), lazy_split(folder), None, 9, loading(bad))


def coco_folder(root: Path, corrupt: int | None = None) -> Path:
    """Six 16 px images with two captions each in COCO's layout; image `corrupt` is broken."""
    root.mkdir(parents=True)
    words = ["red", "blue", "green", "tall", "small", "round"]
    images = [{"id": i, "file_name": f"{i}.png"} for i in range(6)]
    annotations = [
        {"image_id": i, "caption": f"a {words[i]} thing number {i} {k}"}
        for i in range(6)
        for k in range(2)
    ]
    for i in range(6):
        _png(root / f"{i}.png", seed=i)
    if corrupt is not None:
        (root / f"{corrupt}.png").write_bytes(b"")
    text = json.dumps({"images": images, "annotations": annotations})
    (root / "captions_val.json").write_text(text)
    return root


def test_retrieval_reads_the_captions_of_the_rows_that_were_kept(tmp_path):
    """Streaming COCO with image 2 broken scores as the same split decoded up front, which
    drops image 2 before any task sees it: its captions must leave with it."""
    torch.manual_seed(0)
    cfg = ModelConfig(width=4, text_width=32, text_layers=1, text_heads=2, embed_dim=16)
    model = build_model(cfg, image_size=16, with_text=True)
    records = read_records("coco", coco_folder(tmp_path / "coco", corrupt=2))

    def scores(split) -> list[dict]:
        data = EvalData("coco", train=split, tests={"val": split}, batch_size=4)
        data.bad_data = BadDataLog(0.5)
        return evaluate_model(model, "m", data, ["retrieval"], Tokenizer())

    lazy = lazy_records_split(records, 16, "val", TEMPLATES)
    decoded = records_to_split(records, 16, "val", TEMPLATES, BadDataLog(0.5))
    assert len(lazy.caption_sets) == 6 and len(decoded.caption_sets) == 5
    streamed, reference = scores(lazy), scores(decoded)
    assert {r["n_samples"] for r in streamed} == {5}
    assert streamed == reference


def test_features_of_a_lazy_split_are_cached_by_file_identity(tmp_path, decodes):
    folder = image_folder(tmp_path / "val")
    model = worker.LinearTower()
    data = EvalData("folder", train=lazy_split(folder), tests={}, feature_dir=tmp_path / "f")

    def features(split):
        cache = FeatureCache(data.feature_dir, model)  # a new one per evaluation, as the suite's
        return suite._features(model, split, None, data, cache=cache)

    first = features(lazy_split(folder))
    assert len(decodes) == 9
    again = features(lazy_split(folder))  # a second `mmcl eval`: the split read afresh
    assert len(decodes) == 9  # a hit: no image decoded
    assert torch.equal(again.features, first.features)

    _png(folder / "owl" / "0.png", seed=99)  # one file rewritten
    changed = features(lazy_split(folder))
    assert len(decodes) == 18  # a miss: decoded again
    row = lazy_split(folder).images.files.index(str(folder / "owl" / "0.png"))
    assert not torch.allclose(changed.features[row], first.features[row])
    others = torch.arange(9) != row
    torch.testing.assert_close(changed.features[others], first.features[others])


def test_two_gloo_ranks_decode_disjoint_shares_and_gather_the_one_process_features(tmp_path):
    folder = image_folder(tmp_path / "val", corrupt=("cat/0.png",))
    out = tmp_path / "out"
    out.mkdir()
    run_two_processes(str(WORKER), str(folder), str(out), timeout=120)
    ranks = [torch.load(out / f"rank{r}.pt") for r in range(2)]

    alone, decoded_alone, bad_alone = worker.extract(folder, Shards())
    assert decoded_alone == 9
    assert [r["world"] for r in ranks] == [2, 2]
    assert [r["decoded"] for r in ranks] == [5, 4]  # rows 0, 2, ..., 8 and rows 1, 3, ..., 7
    for result in ranks:
        torch.testing.assert_close(result["features"], alone.features, atol=1e-6, rtol=0)
        assert torch.equal(result["labels"], alone.labels)
        assert torch.equal(result["index"], alone.index)
        assert result["bad"] == bad_alone.state_dict()  # every rank counted both shares
    assert alone.index.tolist() == list(range(1, 9))  # the corrupt cat/0.png was row 0
