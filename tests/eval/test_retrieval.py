from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from mmcl.data.formats.bad_data import BadDataLog
from mmcl.data.formats.records import Record, RecordSet
from mmcl.data.record_dataset import records_to_split
from mmcl.data.world_dataset import normalize
from mmcl.errors import MMCLError
from mmcl.eval import retrieval
from mmcl.eval.retrieval import retrieval_recall
from mmcl.eval.suite import EvalData, evaluate_model
from mmcl.models import ModelConfig, Tokenizer, build_model

KS = (1, 5, 10)


def _naive_recall(images, texts, image_of_text, ks=KS):
    """Sort every candidate list in Python and look for the right item(s) in the first k."""
    images = torch.nn.functional.normalize(images, dim=1).tolist()
    texts = torch.nn.functional.normalize(texts, dim=1).tolist()
    owner = image_of_text.tolist()

    def dot(a, b):
        return sum(x * y for x, y in zip(a, b, strict=True))

    t2i_pos, i2t_pos = [], []
    for t, text in enumerate(texts):
        order = sorted(range(len(images)), key=lambda i, text=text: -dot(text, images[i]))
        t2i_pos.append(order.index(owner[t]))
    for i, image in enumerate(images):
        order = sorted(range(len(texts)), key=lambda t, image=image: -dot(image, texts[t]))
        i2t_pos.append(min(pos for pos, t in enumerate(order) if owner[t] == i))
    out = {}
    for k in ks:
        out[f"image_to_text_R@{k}"] = sum(p < k for p in i2t_pos) / len(i2t_pos)
        out[f"text_to_image_R@{k}"] = sum(p < k for p in t2i_pos) / len(t2i_pos)
    return out


def test_one_caption_per_image_matches_naive_loop():
    g = torch.Generator().manual_seed(0)
    images = torch.randn(40, 8, generator=g)
    texts = images + 1.2 * torch.randn(40, 8, generator=g)  # noisy pairs: recalls strictly in (0,1)
    metrics = retrieval_recall(images, texts)
    expected = _naive_recall(images, texts, torch.arange(40))
    assert metrics == pytest.approx(expected)
    assert 0 < metrics["image_to_text_R@1"] < 1


def test_multiple_captions_per_image_match_naive_loop():
    g = torch.Generator().manual_seed(1)
    images = torch.randn(30, 8, generator=g)
    counts = torch.randint(1, 4, (30,), generator=g)  # 1-3 captions per image
    image_of_text = torch.repeat_interleave(torch.arange(30), counts)
    image_of_text = image_of_text[torch.randperm(len(image_of_text), generator=g)]
    texts = images[image_of_text] + 1.2 * torch.randn(len(image_of_text), 8, generator=g)
    metrics = retrieval_recall(images, texts, image_of_text)
    assert metrics == pytest.approx(_naive_recall(images, texts, image_of_text))


def test_chunked_path_equals_unchunked(monkeypatch):
    g = torch.Generator().manual_seed(2)
    images, texts = torch.randn(25, 4, generator=g), torch.randn(50, 4, generator=g)
    image_of_text = torch.arange(50) % 25
    whole = retrieval_recall(images, texts, image_of_text)
    monkeypatch.setattr(retrieval, "CHUNK", 4)
    assert retrieval_recall(images, texts, image_of_text) == pytest.approx(whole)


def test_constructed_swap_gives_known_recall():
    images = torch.eye(4)
    texts = torch.eye(4)[[1, 0, 2, 3]]  # captions 0 and 1 describe each other's image
    metrics = retrieval_recall(images, texts, ks=(1, 2))
    assert metrics["text_to_image_R@1"] == pytest.approx(0.5)
    assert metrics["image_to_text_R@1"] == pytest.approx(0.5)


def test_bad_pairing_raises():
    images, texts = torch.randn(3, 4), torch.randn(4, 4)
    with pytest.raises(MMCLError, match="image_of_text"):
        retrieval_recall(images, texts)
    with pytest.raises(MMCLError, match="outside"):
        retrieval_recall(images, texts, torch.tensor([0, 1, 2, 3]))
    with pytest.raises(MMCLError, match="at least one caption"):
        retrieval_recall(images, texts, torch.tensor([0, 0, 1, 1]))


def test_evaluate_uses_model_embeddings(fake_model, batches):
    metrics = retrieval.evaluate(fake_model, batches, ks=(1, 5))
    with torch.no_grad():
        images = fake_model.encode_image(torch.cat([b.images for b in batches]))
        texts = fake_model.encode_text(torch.cat([b.texts for b in batches]))
    assert metrics == pytest.approx(_naive_recall(images, texts, torch.arange(20), ks=(1, 5)))


def test_a_split_with_several_captions_per_image_is_scored_over_all_of_them(tmp_path):
    """COCO gives each image 5 captions: retrieval ranks every one, as the standard protocol."""
    rng = np.random.default_rng(0)
    records = []
    for i in range(6):
        path = tmp_path / f"{i}.png"
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(path)
        records.append(Record(str(path), (f"image {i} first", f"image {i} second"), source=str(i)))
    split = records_to_split(RecordSet(records, name="coco"), 32, "val", ["a {}."], BadDataLog(0.0))
    assert split.caption_sets == [list(r.captions) for r in records]
    assert split.captions == [r.captions[0] for r in records]
    torch.manual_seed(0)
    cfg = ModelConfig(width=4, text_width=32, text_layers=1, text_heads=2, embed_dim=16)
    model = build_model(cfg, 32, with_text=True).eval()
    data = EvalData("coco", split, {"val": split}, probe_train_size=6)
    scored = evaluate_model(model, "m", data, ["retrieval"], Tokenizer())
    got = {r["metric"]: r["value"] for r in scored}
    captions = [c for r in records for c in r.captions]
    with torch.no_grad():
        images = model.encode_image(normalize(split.images))
        texts = model.encode_text(Tokenizer()(captions))
    expected = retrieval_recall(images, texts, torch.arange(6).repeat_interleave(2))
    assert got == pytest.approx(expected, abs=1e-6)
    first_only = retrieval_recall(images, texts[::2])
    assert expected != first_only  # the extra captions change the figures
