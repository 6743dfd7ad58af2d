"""Zhang, Wang & Wang (ICML 2023) on finite worlds: raw figures for the checks and the claims.

Spec zhang2023.md in the shared specs, section 5.1-4. Two kinds of record, both plain dicts:

- `check_records` (one world): what can fail only through a bug: the factorisation identity,
  sigma_1 = 1, the trained optimum and subspace, the unification with SSCL on pseudo pairs, the
  induced-graph facts, alpha_pseudo <= 2 alpha_pair, the [recall] bound against the exact
  probe error where the bound is below 1, and the exact probe errors of the matched MMCL/SSCL
  worlds (both 0: an identity there, not a finding). `mmcl.experiments.zhang2023.checks` reads
  them.
- `direction_record` (one random world per seed): the bound's directions, read over seeds by
  `mmcl.experiments.zhang2023.claims`: probe error vs caption noise and vs text sharing, and
  MMCL vs SSCL on worlds whose labeling error is matched (`matched_comparison`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch

from mmcl.errors import MMCLError
from mmcl.experiments.grids import grid_path, read_grid
from mmcl.losses import spectral_population_loss
from mmcl.registry import unknown_name_message
from mmcl.theory import spectral as sp
from mmcl.theory.training import (
    FitConfig,
    fit_mmcl_linear,
    fit_mmcl_minibatch,
    fit_mmcl_population,
    fit_sscl_population,
    fit_sscl_pseudo_pairs,
)
from mmcl.theory.worlds import (
    FiniteWorld,
    augmentation_worlds,
    class_structured_world,
    from_attributes,
    world_from_matrix,
)

MATCH_STEPS = 50  # bisection steps on the overlap's label noise (2^-50: exact to float64)
ALPHA_MATCH = 1e-6  # relative gap of alpha_pseudo below which two worlds count as matched


@dataclass(frozen=True)
class TheoryScale:
    """World sizes, sweeps and optimiser budget of one run; k = n_classes throughout."""

    n_classes: int = 4
    images_per_class: int = 6
    texts_per_class: int = 4
    cross_class_noise: float = 0.1  # caption noise of the optimum/unification world
    text_sharing: float = 0.5
    fit_steps: int = 600
    batch_size: int = 256
    noise_levels: tuple[float, ...] = (0.0, 0.2, 0.4, 0.6)
    sharing_levels: tuple[float, ...] = (0.0, 0.25, 0.5, 1.0)
    # MMCL vs SSCL: caption noise <= 0.03 keeps the bounds below 1 (issue 13); the SSCL views
    # overlap across naturals by these amounts, with the overlap's label noise matched.
    matched_noise: tuple[float, ...] = (0.01, 0.03)
    overlaps: tuple[float, ...] = (0.05, 0.2)
    views_per_image: int = 3
    random_worlds: int = 20


# The sizes per scale, and why, are in configs/zhang2023/theory.yaml.
SCALES = read_grid(grid_path("zhang2023", "theory.yaml"), ("scales",)).table(
    TheoryScale, "scales", names=("tiny", "small")
)


def resolve_scale(scale: str | TheoryScale) -> TheoryScale:
    if isinstance(scale, TheoryScale):
        return scale
    if scale not in SCALES:
        raise MMCLError(unknown_name_message("theory scale", scale, sorted(SCALES)))
    return SCALES[scale]


def _world(s: TheoryScale, seed: int, noise: float | None = None, sharing: float | None = None):
    return class_structured_world(
        s.n_classes,
        s.images_per_class,
        s.texts_per_class,
        s.cross_class_noise if noise is None else noise,
        seed,
        s.text_sharing if sharing is None else sharing,
    )


def _random_world(rng: np.random.Generator, n_v: int, n_l: int, n_classes: int) -> FiniteWorld:
    """Sparse-ish random joint (cubed uniforms) with random labels on both sides."""
    P = rng.random((n_v, n_l)) ** 3 + 1e-6
    return world_from_matrix(
        P / P.sum(), rng.integers(0, n_classes, n_v), rng.integers(0, n_classes, n_l)
    )


def _weighted(world: FiniteWorld, f_v: np.ndarray) -> np.ndarray:
    return np.sqrt(world.p_v)[:, None] * f_v  # (N_V, k) F_V = D_V^1/2 f_V


def identity_check(scale: str | TheoryScale = "tiny", seed: int = 0) -> dict:
    """Spec 5.1 on a random world with random features: torch L_MM vs the numpy identity."""
    s = resolve_scale(scale)
    rng = np.random.default_rng(seed)
    world = _random_world(rng, 3 * s.images_per_class, 2 * s.texts_per_class, s.n_classes)
    f_v = rng.normal(size=(world.n_images, s.n_classes))  # (N_V, k) arbitrary features
    f_l = rng.normal(size=(world.n_texts, s.n_classes))  # (N_L, k)
    as_torch = (torch.from_numpy(x) for x in (world.P, f_v, f_l))
    loss = float(spectral_population_loss(*as_torch))
    P_tilde = sp.normalized_cooccurrence(world.P)
    F_v, F_l = _weighted(world, f_v), np.sqrt(world.p_l)[:, None] * f_l
    spec = sp.spectrum(world.P)
    return {
        "world": list(world.P.shape),
        "identity_residual": abs(loss + np.sum(P_tilde**2) - np.sum((P_tilde - F_v @ F_l.T) ** 2)),
        "sigma_1": float(spec.sigma[0]),
        "sigma_max_above_1": float(max(spec.sigma.max() - 1.0, 0.0)),
        "u1_error": float(np.abs(spec.U[:, 0] - np.sqrt(world.p_v)).max()),
        "v1_error": float(np.abs(spec.V[:, 0] - np.sqrt(world.p_l)).max()),
    }


def _fit_record(world: FiniteWorld, fit, cfg: FitConfig, reference: float) -> dict:
    result = fit(world, cfg)
    U_k = sp.spectrum(world.P).U[:, : cfg.k]
    F = _weighted(world, result.f_v)
    cosines = sp.principal_cosines(F, U_k)
    return {
        "max_angle_deg": float(np.degrees(np.arccos(cosines.min()))),
        "loss": result.population_loss,
        "optimal_loss": reference,
        "loss_relative_error": sp.relative_error(result.population_loss, reference),
        "min_cosine": float(cosines.min()),
        "subspace_distance": sp.subspace_distance(F, U_k),
        "probe_error": sp.least_squares_probe_error(result.f_v, world.image_labels, world.p_v),
        "features": result.f_v,
    }


def optimum_check(scale: str | TheoryScale = "tiny", seed: int = 0) -> dict:
    """Spec 5.2: MMCL tables trained on the exact loss and on sampled pairs vs the truncated SVD."""
    s = resolve_scale(scale)
    world, k = _world(s, seed), s.n_classes
    cfg = FitConfig(k=k, steps=s.fit_steps, batch_size=s.batch_size, seed=seed)
    best = sp.optimal_loss(world.P, k)
    f_v_star, f_l_star = sp.optimal_features(world.P, k)
    rng = np.random.default_rng(seed)
    x_v = rng.normal(size=(world.n_images, world.n_images + 4)) / np.sqrt(world.n_images)
    x_l = rng.normal(size=(world.n_texts, world.n_texts + 4)) / np.sqrt(world.n_texts)
    linear = lambda w, c: fit_mmcl_linear(w, x_v, x_l, c)  # noqa: E731  full-rank random inputs
    fits = (("population", fit_mmcl_population), ("minibatch", fit_mmcl_minibatch),
            ("linear", linear))  # fmt: skip
    records = {name: _fit_record(world, fit, cfg, best) for name, fit in fits}
    for record in records.values():
        record.pop("features")
    return {
        "world": list(world.P.shape),
        "k": k,
        "sigma": sp.spectrum(world.P).sigma[: k + 1].tolist(),
        "closed_form_loss_error": abs(sp.factorization_loss(world.P, f_v_star, f_l_star) - best),
        **records,
    }


def unification_check(scale: str | TheoryScale = "tiny", seed: int = 0) -> dict:
    """Spec 5.3: SSCL on text-induced pseudo pairs vs MMCL: subspace, probe error, graph facts."""
    s = resolve_scale(scale)
    world, k = _world(s, seed), s.n_classes
    cfg = FitConfig(k=k, steps=s.fit_steps, batch_size=s.batch_size, seed=seed)
    sigma = sp.spectrum(world.P).sigma
    mmcl = _fit_record(world, fit_mmcl_population, cfg, sp.optimal_loss(world.P, k))
    sscl_best = -float(np.sum(sigma[:k] ** 4))  # ||P~P~^T - FF^T||^2 optimum: sigma^4
    sscl = {
        name: _fit_record(world, fit, cfg, sscl_best)
        for name, fit in (
            ("population", fit_sscl_population),
            ("pseudo_pairs", fit_sscl_pseudo_pairs),
        )
    }
    F_mmcl = _weighted(world, mmcl.pop("features"))
    for record in sscl.values():
        F = _weighted(world, record.pop("features"))
        record["min_cosine_to_mmcl"] = float(sp.principal_cosines(F, F_mmcl).min())
        record["probe_gap_to_mmcl"] = abs(record["probe_error"] - mmcl["probe_error"])
    A = sp.induced_image_graph(world.P)
    P_tilde = sp.normalized_cooccurrence(world.P)
    eig = np.sort(np.linalg.eigvalsh(P_tilde @ P_tilde.T))[::-1][: len(sigma)]
    return {
        "world": list(world.P.shape),
        "k": k,
        "mmcl": mmcl,
        "sscl": sscl,
        "closed_form_probe_error": sp.closed_form_probe_error(world.P, world.image_labels, k),
        "eig_vs_sigma2_error": float(np.abs(eig - sigma**2).max()),
        "row_sum_error": float(np.abs(A.sum(axis=1) - world.p_v).max()),
        "symmetry_error": float(np.abs(A - A.T).max()),
        "normalized_graph_error": float(
            np.abs(A / np.sqrt(np.outer(world.p_v, world.p_v)) - P_tilde @ P_tilde.T).max()
        ),
    }


def _bound_terms(world: FiniteWorld, k: int) -> dict:
    alpha = sp.pseudo_labeling_error(world.P, world.image_labels)
    sigma_k1 = sp.sigma_next(world.P, k)
    return {
        "alpha_pair": sp.pair_labeling_error(world.P, world.image_labels, world.text_labels),
        "alpha_pseudo": alpha,
        "sigma_k1": sigma_k1,
        "lambda_k1": 1.0 - sigma_k1**2,
        "bound": sp.spectral_bound(alpha, sigma_k1),
        "probe_error": sp.closed_form_probe_error(world.P, world.image_labels, k),
        "optimum_unique": sp.optimum_is_unique(world.P, k),
    }


def _sweep(s: TheoryScale, seed: int, knob: str, levels: tuple[float, ...]) -> dict:
    """{levels, probe_error, alpha_pseudo, sigma_k1, bound}: one list entry per level."""
    rows = [_bound_terms(_world(s, seed, **{knob: level}), s.n_classes) for level in levels]
    keys = ("probe_error", "alpha_pseudo", "sigma_k1", "bound")
    return {"levels": list(levels), **{key: [row[key] for row in rows] for key in keys}}


def _sscl_alpha(base: FiniteWorld, s: TheoryScale, overlap: float, cross: float, seed: int):
    _, sscl = augmentation_worlds(base, s.views_per_image, overlap, seed, cross)
    return sscl, sp.pseudo_labeling_error(sscl.P, sscl.image_labels)


def matched_sscl_world(
    base: FiniteWorld, s: TheoryScale, overlap: float, target_alpha: float, seed: int
) -> tuple[FiniteWorld, float]:
    """The SSCL view world whose alpha_pseudo equals `target_alpha`, and its overlap label noise.

    alpha_pseudo rises with the overlap's cross-class share (0 at none), so bisection finds it;
    a target above what the overlap can reach gets cross-class share 1 (the row says unmatched).
    """
    low, high = 0.0, 1.0
    for _ in range(MATCH_STEPS):
        middle = 0.5 * (low + high)
        if _sscl_alpha(base, s, overlap, middle, seed)[1] < target_alpha:
            low = middle
        else:
            high = middle
    return _sscl_alpha(base, s, overlap, high, seed)[0], high


def matched_comparison(s: TheoryScale, seed: int) -> list[dict]:
    """MMCL (views paired with their natural's captions) vs SSCL (views of one natural, plus an
    overlap across naturals) at equal alpha_pseudo, per caption noise and overlap.

    Matching the labeling error leaves connectivity (lambda_{k+1}) as the only difference the
    bound can see (issue 13: without it, SSCL's alpha was about overlap x MMCL's).
    """
    rows = []
    for noise in s.matched_noise:
        base = _world(s, seed, noise=noise)
        mmcl, _ = augmentation_worlds(base, s.views_per_image, 0.0, seed)
        mmcl_terms = _bound_terms(mmcl, s.n_classes)
        for overlap in s.overlaps:
            sscl, cross = matched_sscl_world(base, s, overlap, mmcl_terms["alpha_pseudo"], seed)
            sscl_terms = _bound_terms(sscl, s.n_classes)
            gap = abs(sscl_terms["alpha_pseudo"] - mmcl_terms["alpha_pseudo"])
            rows.append({"noise": noise, "overlap": overlap, "overlap_cross_class": cross,
                         "matched": gap <= ALPHA_MATCH * mmcl_terms["alpha_pseudo"],
                         "mmcl": mmcl_terms, "sscl": sscl_terms})  # fmt: skip
    return rows


def direction_record(scale: str | TheoryScale = "tiny", seed: int = 0) -> dict:
    """One random world's figures for the direction claims (k = n_classes throughout)."""
    s = resolve_scale(scale)
    return {
        "seed": seed,
        "k": s.n_classes,
        "noise": _sweep(s, seed, "noise", s.noise_levels),
        "sharing": _sweep(s, seed, "sharing", s.sharing_levels),
        "matched": matched_comparison(s, seed),
    }


def alpha_inequality(scale: str | TheoryScale = "tiny", seed: int = 0) -> dict:
    """max alpha_pseudo / (2 alpha_pair) over random matrices and random attribute worlds."""
    s = resolve_scale(scale)
    rng = np.random.default_rng(seed)
    ratios = []
    for i in range(s.random_worlds):
        if i % 2:
            sizes = rng.integers(2, 4, size=3).tolist()
            q = [1.0, *rng.uniform(0.1, 0.9, size=2).tolist()]
            world = from_attributes(sizes, q, caption_noise=float(rng.uniform(0.0, 0.5)))
        else:
            world = _random_world(rng, 12, 9, 3)
        pair = sp.pair_labeling_error(world.P, world.image_labels, world.text_labels)
        pseudo = sp.pseudo_labeling_error(world.P, world.image_labels)
        ratios.append(pseudo / (2 * pair) if pair > 0 else (0.0 if pseudo == 0 else np.inf))
    return {"worlds": s.random_worlds, "max_ratio": float(max(ratios))}


def bound_points(record: dict) -> list[dict]:
    """(probe_error, bound) of every world in a `direction_record`."""
    points = []
    for sweep in (record["noise"], record["sharing"]):
        points += [{"probe_error": e, "bound": b}
                   for e, b in zip(sweep["probe_error"], sweep["bound"], strict=True)]  # fmt: skip
    for row in record["matched"]:
        points += [{"probe_error": row[m]["probe_error"], "bound": row[m]["bound"]}
                   for m in ("mmcl", "sscl")]  # fmt: skip
    return points


def matched_probe_errors(record: dict) -> list[float]:
    """The exact probe errors of both optima on every matched world of a `direction_record`."""
    return [row[m]["probe_error"] for row in record["matched"] if row["matched"]
            for m in ("mmcl", "sscl")]  # fmt: skip


def check_records(scale: str | TheoryScale = "tiny", seed: int = 0) -> dict:
    """Every figure the checks read, on one world (plain dicts, JSON-ready)."""
    s = resolve_scale(scale)
    directions = direction_record(s, seed)
    return {
        "scale": asdict(s),
        "seed": seed,
        "identity": identity_check(s, seed),
        "optimum": optimum_check(s, seed),
        "unification": unification_check(s, seed),
        "alpha_inequality": alpha_inequality(s, seed),
        "bound_points": bound_points(directions),
        "matched_probe_errors": matched_probe_errors(directions),
    }
