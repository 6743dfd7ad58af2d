from __future__ import annotations

import pytest
import torch
from torch.utils.data import DataLoader, Dataset

from mmcl.data.batch import Batch
from mmcl.errors import MMCLError
from mmcl.eval.features import (
    FeatureSet,
    concatenate_features,
    encode_texts,
    extract_features,
)


def _cat(batches, name):
    return torch.cat([getattr(b, name) for b in batches])


def test_backbone_features_match_direct_forward_and_keep_annotations(fake_model, batches):
    fs = extract_features(fake_model, batches, kind="backbone")
    images = _cat(batches, "images")
    with torch.no_grad():
        expected = fake_model.backbone(images.flatten(1))
    assert fs.features.dtype == torch.float32
    assert torch.allclose(fs.features, expected, atol=1e-6)
    assert torch.equal(fs.labels, _cat(batches, "labels"))
    assert torch.equal(fs.index, torch.arange(len(images)))
    assert torch.equal(fs.texts, _cat(batches, "texts"))
    for name in ("colour", "size"):
        assert torch.equal(fs.attributes[name], torch.cat([b.attributes[name] for b in batches]))


def test_embedding_kind_is_unit_norm_and_one_pass_per_image(fake_model, batches):
    fake_model.train()
    fs = extract_features(fake_model, batches, kind="embedding")
    assert fake_model.images_seen == len(fs) == 20
    assert fs.features.shape == (20, 4)
    assert torch.allclose(fs.features.norm(dim=1), torch.ones(20), atol=1e-5)
    assert not fs.features.requires_grad
    assert fake_model.training  # mode restored after eval


def test_autocast_gives_float32_close_to_full_precision(fake_model, batches):
    full = extract_features(fake_model, batches, kind="embedding")
    half = extract_features(fake_model, batches, kind="embedding", autocast=True)
    assert half.features.dtype == torch.float32
    assert not torch.equal(half.features, full.features)  # bf16 really ran
    assert torch.allclose(half.features, full.features, atol=0.05)


class _BatchDataset(Dataset):
    """A dataset whose __getitems__ returns one Batch, as mmcl's datasets do."""

    def __init__(self, batch: Batch) -> None:
        self.batch = batch

    def __len__(self) -> int:
        return len(self.batch)

    def __getitems__(self, indices: list[int]) -> Batch:
        idx = torch.tensor(indices)
        return Batch(
            images=self.batch.images[idx],
            labels=self.batch.labels[idx],
            index=idx,
            attributes={k: v[idx] for k, v in self.batch.attributes.items()},
        )


def test_dataloader_over_getitems_dataset(fake_model, batches):
    whole = Batch(
        images=_cat(batches, "images"),
        labels=_cat(batches, "labels"),
        index=_cat(batches, "index"),
        attributes={"colour": torch.cat([b.attributes["colour"] for b in batches])},
    )
    loader = DataLoader(_BatchDataset(whole), batch_size=7, collate_fn=lambda batch: batch)
    fs = extract_features(fake_model, loader)
    direct = extract_features(fake_model, batches)
    assert torch.allclose(fs.features, direct.features)
    assert fs.texts is None
    assert torch.equal(fs.attributes["colour"], whole.attributes["colour"])


def test_bad_kind_and_empty_input_raise(fake_model, batches):
    with pytest.raises(MMCLError, match="feature kind"):
        extract_features(fake_model, batches, kind="logits")
    with pytest.raises(MMCLError, match="no batches"):
        extract_features(fake_model, [])


def test_subset_labelled_and_concatenate(fake_model, batches):
    fs = extract_features(fake_model, batches)
    fs.labels[:3] = -1
    known = fs.labelled()
    assert len(known) == 17
    assert torch.equal(known.index, torch.arange(3, 20))
    assert torch.equal(known.attributes["colour"], fs.attributes["colour"][3:])
    both = concatenate_features([fs, fs])
    assert both.features.shape == (20, 16)
    assert torch.equal(both.features[:, 8:], fs.features)
    shuffled = FeatureSet(fs.features, fs.labels, fs.index.flip(0))
    with pytest.raises(MMCLError, match="different samples"):
        concatenate_features([fs, shuffled])


def test_encode_texts_chunks_match_one_shot(fake_model, batches):
    tokens = _cat(batches, "texts")
    chunked = encode_texts(fake_model, tokens, batch_size=3)
    with torch.no_grad():
        whole = fake_model.encode_text(tokens)
    assert torch.allclose(chunked, whole, atol=1e-6)
    fake_model.has_text = False
    with pytest.raises(MMCLError, match="has_text"):
        encode_texts(fake_model, tokens)
