"""Xue vector data model: sampling rates, annotation, prompts, determinism, validation."""

from __future__ import annotations

import numpy as np
import pytest

from mmcl.data.synthetic import XueConfig, class_prompts, dictionaries, generate
from mmcl.errors import MMCLError


def _within_binomial(rate: float, p: float, n: int, z: float = 4.0) -> bool:
    return abs(rate - p) <= z * np.sqrt(p * (1 - p) / n) + 1e-12


def test_spurious_agreement_rates_match_p_train_and_p_test():
    cfg = XueConfig(n=4000, n_test=4000, p_train=0.9, p_test=0.3, seed=3)
    train, ood, iid = generate(cfg, "train"), generate(cfg, "ood"), generate(cfg, "id")
    assert _within_binomial(train.spurious_agrees.mean(), 0.9, cfg.n)
    assert _within_binomial(iid.spurious_agrees.mean(), 0.9, cfg.n_test)
    assert _within_binomial(ood.spurious_agrees.mean(), 0.3, cfg.n_test)
    # the flag is what the latents say: sign(z_s) == y
    y = np.where(train.labels == 1, 1.0, -1.0)
    np.testing.assert_array_equal(np.sign(train.z_spurious[:, 0]) == y, train.spurious_agrees)


def test_default_test_split_flips_the_correlation():
    cfg = XueConfig(n=500, n_test=4000, p_train=0.95)
    assert _within_binomial(generate(cfg, "ood").spurious_agrees.mean(), 0.05, cfg.n_test)


def test_annotation_frequency_matches_probabilities():
    cfg = XueConfig(n=3000, annotate_spurious=0.4, annotate_nuisance=0.25, n_nuisance=6)
    data = generate(cfg, "train")
    assert data.annotated[:, 0].all()  # the core is always mentioned
    assert _within_binomial(data.annotated[:, 1].mean(), 0.4, cfg.n)
    assert _within_binomial(data.annotated[:, 2:].mean(), 0.25, cfg.n * 6)
    # unannotated latents are absent from the caption: project it back on D_T (noise-free case)
    clean = generate(XueConfig(n=300, annotate_spurious=0.4, sigma_noise=0.0), "train")
    _, d_t = dictionaries(XueConfig())
    text_latent = clean.x_text @ d_t  # (n, k)
    np.testing.assert_allclose(text_latent[~clean.annotated], 0.0, atol=1e-10)


def test_prompts_hold_only_the_core_latent():
    for cfg in (XueConfig(), XueConfig(task="multiclass", n_classes=4, n_details=3)):
        _, d_t = dictionaries(cfg)
        latent = class_prompts(cfg) @ d_t  # (C, k) coordinates in the caption dictionary
        np.testing.assert_allclose(latent[:, cfg.n_core :], 0.0, atol=1e-12)  # no spurious
        assert np.linalg.matrix_rank(latent[:, : cfg.n_core]) == cfg.n_core
        # prompts lie in the span of D_T (nothing off-dictionary either)
        np.testing.assert_allclose(latent @ d_t.T, class_prompts(cfg), atol=1e-12)


def test_deterministic_and_dictionaries_shared_across_splits():
    cfg = XueConfig(n=200, n_test=200, sigma_noise=0.0, seed=5)
    a, b = generate(cfg, "train"), generate(cfg, "train")
    np.testing.assert_array_equal(a.x_image, b.x_image)
    ood = generate(cfg, "ood")
    assert not np.allclose(a.x_image, ood.x_image)
    d_i, _ = dictionaries(cfg)
    for data in (a, ood):  # both splits are exactly D_I applied to their own latents
        latent = np.concatenate([data.z_core, data.z_spurious], axis=1)
        np.testing.assert_allclose((data.x_image @ d_i)[:, :2], latent, atol=1e-10)
    assert not np.allclose(dictionaries(XueConfig(seed=6))[0], d_i)


def test_prototype_captions_carry_the_class_mean():
    cfg = XueConfig(n=300, sigma_noise=0.0, intra_class_variation=False)
    data = generate(cfg, "train")
    _, d_t = dictionaries(cfg)
    y = np.where(data.labels == 1, 1.0, -1.0)
    np.testing.assert_allclose((data.x_text @ d_t)[:, 0], y, atol=1e-10)
    assert np.abs(data.z_core[:, 0] - y).max() > 0.5  # while the image keeps its variation


def test_multiclass_association_shift_and_class0_annotation():
    cfg = XueConfig(
        task="multiclass", n=4000, n_test=4000, association=0.8, annotate_details="class0", seed=1
    )
    train, ood = generate(cfg, "train"), generate(cfg, "ood")
    assert _within_binomial((train.detail_ids == train.labels % 5).mean(), 0.8, cfg.n)
    assert _within_binomial((ood.detail_ids == (ood.labels + 1) % 5).mean(), 0.8, cfg.n_test)
    detail_cols = train.annotated[:, cfg.n_core : cfg.n_core + cfg.n_details]
    np.testing.assert_array_equal(detail_cols.any(1), train.labels == 0)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("p_train", 1.5),
        ("task", "ternary"),
        ("annotate_details", "some"),
        ("d_image", 5),
        ("sigma_core", -1.0),
        ("p_test", -0.1),
    ],
)
def test_validation_names_the_field(field, value):
    with pytest.raises(MMCLError, match=field):
        XueConfig(**{field: value})


def test_unknown_split_is_an_error():
    with pytest.raises(MMCLError, match="split"):
        generate(XueConfig(n=10), "test")
