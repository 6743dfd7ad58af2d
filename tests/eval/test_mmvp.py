"""MMVP-style pairs: the official both-correct rule, world pairs, the real folder's layout."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from mmcl.data.worlds.shapes import ShapesConfig
from mmcl.errors import MMCLError
from mmcl.eval import mmvp


def _official(image_emb, text_emb, scale=100.0):
    """The official script's loop: per statement a softmax over the pair's two images."""
    correct = []
    for p in range(len(image_emb)):
        both = True
        for j in range(2):
            logits = [scale * float(image_emb[p, i] @ text_emb[p, j]) for i in range(2)]
            p_first = np.exp(logits[0]) / (np.exp(logits[0]) + np.exp(logits[1]))
            both &= (0 if p_first > 0.5 else 1) == j
        correct.append(both)
    return correct


def test_hand_built_pairs_score_by_the_both_correct_rule():
    e = torch.eye(2)
    images = torch.stack([e, e, e])  # every pair: image 1 = x axis, image 2 = y axis
    texts = torch.stack(
        [
            e,  # both statements pick their own image
            torch.stack([e[0], e[0]]),  # statement 2 picks image 1: the pair fails
            torch.stack([F.normalize(e.sum(0), dim=0), e[1]]),  # a tie goes to image 2: fails
        ]
    )
    correct = mmvp.pair_correct(images, texts)
    assert correct.tolist() == [True, False, False] == _official(images, texts)
    scores = mmvp.pattern_scores(correct, ["a", "a", "b"])
    assert scores == {"a": 50.0, "b": 0.0, "mean": 25.0}


def test_random_embeddings_match_the_official_loop_and_sit_near_chance():
    g = torch.Generator().manual_seed(0)
    images = F.normalize(torch.randn(3000, 2, 16, generator=g), dim=-1)
    texts = F.normalize(torch.randn(3000, 2, 16, generator=g), dim=-1)
    correct = mmvp.pair_correct(images, texts)
    assert correct.tolist()[:300] == _official(images[:300], texts[:300])
    assert abs(100 * correct.float().mean().item() - 25.0) < 3.0


def test_world_pairs_differ_in_exactly_their_attribute():
    cfg = ShapesConfig(canvas="grey")
    pairs = mmvp.world_pairs(cfg, n_pairs=4)
    assert set(pairs.patterns) == set(mmvp.pair_attributes(cfg))
    assert not {"background", "style"} & set(pairs.patterns)  # not drawn / constant in training
    assert mmvp.world_pairs(cfg, 1, ["style"]).values[0][1]["style"] == "sketch"  # on request
    assert pairs.images.shape == (4 * len(set(pairs.patterns)), 2, 3, 32, 32)
    for (a, b), pattern, (s1, s2), images in zip(
        pairs.values, pairs.patterns, pairs.statements, pairs.images, strict=True
    ):
        assert [k for k in a if a[k] != b[k]] == [pattern]
        assert s1 != s2 and not torch.equal(images[0], images[1])


class ColourModel(nn.Module):
    """Image -> its mean (red, blue); text -> (1, 0) if it says red, (0, 1) if blue."""

    has_text = True

    def __init__(self) -> None:
        super().__init__()
        self.dummy = nn.Parameter(torch.zeros(()))

    def encode_image(self, images, normalize=True):
        return F.normalize(images.mean(dim=(2, 3))[:, [0, 2]] + 3.0, dim=-1)  # (B, 2)

    def encode_text(self, tokens, normalize=True):
        return F.normalize(torch.stack([self.words[int(t)] for t in tokens[:, 0]]), dim=-1)


def _write_mmvp(root, rows):
    folder = root / "MLLM_VLM Images"
    with (root / "Questions.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Question ID", "Type", "Statement"])
        for qid, (kind, statement, rgb, size) in enumerate(rows, start=1):
            writer.writerow([qid, kind, statement])
            (folder / kind).mkdir(parents=True, exist_ok=True)
            Image.new("RGB", size, rgb).save(folder / kind / f"{qid}.jpg")


def test_reads_the_real_layout_and_scores_per_pattern(tmp_path):
    red, blue = (230, 20, 20), (20, 20, 230)
    _write_mmvp(
        tmp_path,
        [
            ("Color", "The flower is red.", red, (50, 40)),
            ("Color", "The flower is blue.", blue, (40, 60)),
            ("Color", "The car is blue.", blue, (64, 64)),
            ("Color", "The car is red.", red, (30, 30)),
            ("Orientation", "The arrow is red.", red, (64, 32)),
            ("Orientation", "The arrow is red.", blue, (32, 64)),  # statement 2 cannot win
        ],
    )
    pairs = mmvp.read_mmvp_vlm(tmp_path, image_size=16)
    assert pairs.patterns == ["Color", "Color", "Orientation"]
    assert pairs.statements[1] == ("The car is blue.", "The car is red.")
    assert pairs.images.shape == (3, 2, 3, 16, 16)
    model = ColourModel()
    model.words = {0: torch.tensor([1.0, 0.0]), 1: torch.tensor([0.0, 1.0])}

    def tokenizer(texts):
        assert all(t.startswith(mmvp.PREFIX) for t in texts)
        return torch.tensor([[0] if "red" in t else [1] for t in texts])

    metrics = mmvp.evaluate(model, pairs, tokenizer)
    assert metrics == {
        "Color/pair_accuracy": 100.0,
        "Orientation/pair_accuracy": 0.0,
        "mean/pair_accuracy": 50.0,
    }
    assert mmvp.model_pair_correct(model, pairs, tokenizer).tolist() == [True, True, False]


def test_bad_folder_names_the_problem(tmp_path):
    with pytest.raises(MMCLError, match="Questions.csv"):
        mmvp.read_mmvp_vlm(tmp_path)
    (tmp_path / "Questions.csv").write_text("Question ID,Type\n1,Color\n2,Color\n")
    with pytest.raises(MMCLError, match="Statement"):
        mmvp.read_mmvp_vlm(tmp_path)
