from __future__ import annotations

import pytest
import torch

from mmcl.errors import MMCLError
from mmcl.eval import zeroshot
from mmcl.eval.zeroshot import zero_shot_accuracy, zero_shot_classifier

CLASSES = ["circle", "square", "star", "heart"]
TEMPLATES = ["a {}.", "a photo of a {}.", "a drawing of the {} shape."]


class WordTokenizer:
    """Each distinct word gets an id (from 1); captions padded with 0 to a fixed length."""

    def __init__(self, length: int = 8) -> None:
        self.length = length
        self.vocab: dict[str, int] = {}

    def __call__(self, texts: list[str]) -> torch.Tensor:
        rows = []
        for text in texts:
            ids = [self.vocab.setdefault(w, len(self.vocab) + 1) for w in text.split()]
            rows.append(ids + [0] * (self.length - len(ids)))
        return torch.tensor(rows)


def test_classifier_equals_hand_prompt_ensemble(fake_model):
    tokenizer = WordTokenizer()
    weights = zero_shot_classifier(fake_model, tokenizer, CLASSES, TEMPLATES)
    assert weights.shape == (4, 4)  # (D, C)
    with torch.no_grad():
        for c, name in enumerate(CLASSES):
            total = torch.zeros(4)
            for template in TEMPLATES:
                raw = fake_model.encode_text(tokenizer([template.format(name)]), normalize=False)[0]
                total += raw / raw.norm()
            expected = total / len(TEMPLATES)
            expected = expected / expected.norm()
            assert torch.allclose(weights[:, c], expected, atol=1e-5)


def test_classifier_columns_follow_class_order(fake_model):
    tokenizer = WordTokenizer()
    tokenizer(["pad"])  # id 1 is a filler word, class words come later
    with torch.no_grad():
        fake_model.token_embedding.weight.fill_(0.01)
        for c, name in enumerate(CLASSES):
            fake_model.token_embedding.weight[tokenizer([name])[0, 0]] = 10 * torch.eye(4)[c]
    weights = zero_shot_classifier(fake_model, tokenizer, CLASSES, TEMPLATES)
    assert torch.equal(weights.argmax(dim=0), torch.arange(4))


def test_accuracy_matches_naive_loop_on_constructed_embeddings():
    g = torch.Generator().manual_seed(1)
    classifier = torch.eye(5)  # (D, C): class c is direction c
    labels = torch.randint(0, 5, (60,), generator=g)
    images = torch.eye(5)[labels] + 0.6 * torch.randn(60, 5, generator=g)  # some land wrong
    metrics = zero_shot_accuracy(images, classifier, labels, topk=(1, 3))

    scores = images.tolist()
    ranked = [sorted(range(5), key=lambda c, row=row: -row[c]) for row in scores]
    hit1 = [r[0] == y for r, y in zip(ranked, labels.tolist(), strict=True)]
    hit3 = [y in r[:3] for r, y in zip(ranked, labels.tolist(), strict=True)]
    per_class = [
        sum(h for h, y in zip(hit1, labels.tolist(), strict=True) if y == c)
        / labels.tolist().count(c)
        for c in sorted(set(labels.tolist()))
    ]
    assert 0 < sum(hit1) < 60  # the construction has both hits and misses
    assert metrics["accuracy"] == pytest.approx(sum(hit1) / 60)
    assert metrics["top3_accuracy"] == pytest.approx(sum(hit3) / 60)
    assert metrics["mean_per_class_accuracy"] == pytest.approx(sum(per_class) / len(per_class))


def test_mean_per_class_differs_from_accuracy_when_classes_unbalanced():
    labels = torch.tensor([0, 0, 0, 1])
    predictions_as_embeddings = torch.eye(2)[torch.tensor([0, 0, 0, 0])]
    metrics = zero_shot_accuracy(predictions_as_embeddings, torch.eye(2), labels)
    assert metrics["accuracy"] == pytest.approx(0.75)
    assert metrics["mean_per_class_accuracy"] == pytest.approx(0.5)


def test_evaluate_end_to_end_matches_parts(fake_model, batches):
    tokenizer = WordTokenizer()
    names = ["circle", "square", "star"]
    metrics = zeroshot.evaluate(fake_model, batches, tokenizer, names, TEMPLATES, topk=(1, 2))
    images = torch.cat([b.images for b in batches])
    labels = torch.cat([b.labels for b in batches])
    with torch.no_grad():
        embeddings = fake_model.encode_image(images)
    expected = zero_shot_accuracy(
        embeddings, zero_shot_classifier(fake_model, tokenizer, names, TEMPLATES), labels, (1, 2)
    )
    assert metrics == pytest.approx(expected)


def test_bad_templates_and_too_few_class_names_raise(fake_model, batches):
    with pytest.raises(MMCLError, match="template"):
        zero_shot_classifier(fake_model, WordTokenizer(), CLASSES, ["no slot"])
    with pytest.raises(MMCLError, match="class names"):
        zeroshot.evaluate(fake_model, batches, WordTokenizer(), ["circle"], TEMPLATES)
