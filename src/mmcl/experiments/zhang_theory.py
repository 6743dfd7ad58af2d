"""Checks of Zhang, Wang & Wang (ICML 2023, arXiv 2306.04272) on finite worlds, spec section 5.1-4.

Each check returns a plain dict of our figures (shared/papers/zhang2023.md section 5):
1. `identity_check`: L_MM + ||P~||^2 = ||P~ - F_V F_L^T||^2 and sigma_1 = 1, u_1 = sqrt(p_V).
2. `optimum_check`: spectral training (population and mini-batch) reaches -sum sigma_i^2 and
   the image subspace U_k.
3. `unification_check`: SSCL on text-induced pseudo pairs finds the same subspace and probe error;
   eig(P~ P~^T) = sigma^2, A_V symmetric with row sums p_V.
4. `bound_check`: probe error vs caption noise and text sharing, MMCL vs SSCL (augmentation
   world), alpha_pseudo <= 2 alpha_pair on random worlds, the [recall] bound vs the probe error.
`claims(results)` turns `run_all`'s records into rows {id, statement, paper, ours, held} with
`held` computed from the numbers. `scale="tiny"` runs everything in well under a minute on 2 cores.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch

from mmcl.errors import MMCLError
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

COSINE_TARGET = 0.99  # spec 5.2: principal-angle cosines > 0.99 on a small world
EXACT = 1e-10  # "machine precision" for closed-form identities


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
    overlaps: tuple[float, ...] = (0.0, 0.01, 0.05, 0.2)
    views_per_image: int = 3
    random_worlds: int = 20


SCALES: dict[str, TheoryScale] = {
    "tiny": TheoryScale(),
    "small": TheoryScale(
        n_classes=6,
        images_per_class=10,
        texts_per_class=6,
        fit_steps=1500,
        batch_size=512,
        noise_levels=(0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7),
        sharing_levels=(0.0, 0.1, 0.25, 0.5, 0.75, 1.0),
        overlaps=(0.0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5),
        random_worlds=200,
    ),
}


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


def _sweep(s: TheoryScale, seed: int, knob: str, levels: tuple[float, ...]) -> list[dict]:
    rows = []
    for level in levels:
        world = _world(s, seed, **{knob: level})
        rows.append({knob: level, **_bound_terms(world, s.n_classes)})
    return rows


def _augmentation_comparison(s: TheoryScale, seed: int) -> list[dict]:
    base = _world(s, seed)
    rows = []
    for overlap in s.overlaps:
        mmcl, sscl = augmentation_worlds(base, s.views_per_image, overlap, seed)
        rows.append(
            {
                "overlap": overlap,
                "mmcl": _bound_terms(mmcl, s.n_classes),
                "sscl": _bound_terms(sscl, s.n_classes),
            }
        )
    return rows


def _alpha_inequality(s: TheoryScale, seed: int) -> dict:
    """max alpha_pseudo / (2 alpha_pair) over random matrices and random attribute worlds."""
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


def bound_check(scale: str | TheoryScale = "tiny", seed: int = 0) -> dict:
    """Spec 5.4: directions of the bound's terms and of the exact probe error, at k = n_classes."""
    s = resolve_scale(scale)
    return {
        "k": s.n_classes,
        "noise_sweep": _sweep(s, seed, "noise", s.noise_levels),
        "sharing_sweep": _sweep(s, seed, "sharing", s.sharing_levels),
        "augmentation": _augmentation_comparison(s, seed),
        "alpha_inequality": _alpha_inequality(s, seed),
    }


def run_all(scale: str | TheoryScale = "tiny", seed: int = 0) -> dict:
    """Every check at one scale; plain dicts (JSON-ready) keyed by check name."""
    s = resolve_scale(scale)
    return {
        "scale": asdict(s),
        "seed": seed,
        "identity": identity_check(s, seed),
        "optimum": optimum_check(s, seed),
        "unification": unification_check(s, seed),
        "bound": bound_check(s, seed),
    }


def _nondecreasing(values: list[float]) -> bool:
    return all(b >= a - 1e-12 for a, b in zip(values, values[1:], strict=False))


def _claim(id_: str, statement: str, paper: str, ours: str, held: bool) -> dict:
    return {"id": id_, "statement": statement, "paper": paper, "ours": ours, "held": bool(held)}


def _exact_claims(r: dict) -> list[dict]:
    ident, opt, uni = r["identity"], r["optimum"], r["unification"]
    pop, mini, lin = opt["population"], opt["minibatch"], opt["linear"]
    graph_errors = [uni[key] for key in ("eig_vs_sigma2_error", "row_sum_error", "symmetry_error")]
    return [
        _claim(
            "identity",
            "L_MM + ||P~||^2 = ||P~ - F_V F_L^T||^2 for arbitrary features",
            "machine precision (< 1e-10)",
            f"residual {ident['identity_residual']:.1e}",
            ident["identity_residual"] < EXACT,
        ),
        _claim(
            "sigma_1",
            "sigma_1(P~) = 1 with u_1 = sqrt(p_V), v_1 = sqrt(p_L); all sigma <= 1",
            "exact",
            f"|sigma_1 - 1| {abs(ident['sigma_1'] - 1):.1e}, |u_1 - sqrt p_V| "
            f"{ident['u1_error']:.1e}, |v_1 - sqrt p_L| {ident['v1_error']:.1e}",
            max(abs(ident["sigma_1"] - 1), ident["u1_error"], ident["v1_error"]) < EXACT
            and ident["sigma_max_above_1"] < EXACT,
        ),
        _claim(
            "optimum_loss",
            "spectral training on the population loss reaches -sum_{i<=k} sigma_i^2",
            "-sum sigma_i^2 (ours: relative error < 1e-4)",
            f"relative error {pop['loss_relative_error']:.1e} "
            f"(closed form {opt['closed_form_loss_error']:.1e})",
            pop["loss_relative_error"] < 1e-4 and opt["closed_form_loss_error"] < EXACT,
        ),
        _claim(
            "optimum_subspace",
            "col(F_V) = span(U_k) after training (tables on the population loss and on sampled "
            "pairs, linear encoders on full-rank inputs)",
            f"principal-angle cosines > {COSINE_TARGET}",
            f"min cosine (largest angle) {pop['min_cosine']:.6f} ({pop['max_angle_deg']:.2g} deg)"
            f" population, {mini['min_cosine']:.6f} ({mini['max_angle_deg']:.2g} deg) mini-batch "
            f"(loss rel. error {mini['loss_relative_error']:.1e}), {lin['min_cosine']:.6f} "
            f"({lin['max_angle_deg']:.2g} deg) linear (loss rel. error "
            f"{lin['loss_relative_error']:.1e})",
            min(pop["min_cosine"], mini["min_cosine"], lin["min_cosine"]) > COSINE_TARGET,
        ),
        _claim(
            "unification_subspace",
            "SSCL on text-induced pseudo pairs learns the same image subspace as MMCL",
            f"same subspace (cosines > {COSINE_TARGET})",
            ", ".join(f"{n}: {v['min_cosine']:.6f}" for n, v in uni["sscl"].items()),
            min(v["min_cosine"] for v in uni["sscl"].values()) > COSINE_TARGET,
        ),
        _claim(
            "unification_probe",
            "SSCL on pseudo pairs has the same linear-probe error as MMCL",
            "equal",
            f"MMCL {uni['mmcl']['probe_error']:.4f}, closed form "
            f"{uni['closed_form_probe_error']:.4f}, "
            + ", ".join(f"SSCL {n} {v['probe_error']:.4f}" for n, v in uni["sscl"].items()),
            max(v["probe_gap_to_mmcl"] for v in uni["sscl"].values()) < 1e-9
            and abs(uni["mmcl"]["probe_error"] - uni["closed_form_probe_error"]) < 1e-9,
        ),
        _claim(
            "induced_graph",
            "A_V symmetric, row sums p_V, eig(P~ P~^T) = sigma^2",
            "exact",
            f"max error {max(graph_errors):.1e}",
            max(graph_errors) < EXACT,
        ),
    ]


def _direction_claims(r: dict) -> list[dict]:
    b = r["bound"]
    noise, sharing, aug = b["noise_sweep"], b["sharing_sweep"], b["augmentation"]
    noise_err = [row["probe_error"] for row in noise]
    noise_alpha = [row["alpha_pseudo"] for row in noise]
    share_err = [row["probe_error"] for row in sharing]
    share_sigma = [row["sigma_k1"] for row in sharing]
    no_overlap = aug[0]
    rows = noise + sharing + [row[m] for row in aug for m in ("mmcl", "sscl")]
    ratio = b["alpha_inequality"]["max_ratio"]
    return [
        _claim(
            "noise_direction",
            "at fixed k, probe error grows with caption noise (alpha_pseudo up)",
            "direction",
            f"alpha_pseudo {_fmt(noise_alpha)} -> probe error {_fmt(noise_err)}",
            _nondecreasing(noise_alpha)
            and _nondecreasing(noise_err)
            and noise_err[-1] > noise_err[0],
        ),
        _claim(
            "sharing_direction",
            "captions connecting more same-class images lower sigma_{k+1} and the probe error",
            "direction",
            f"sigma_k+1 {_fmt(share_sigma)} -> probe error {_fmt(share_err)}",
            _nondecreasing(share_sigma[::-1])
            and _nondecreasing(share_err[::-1])
            and share_err[-1] < share_err[0],
        ),
        _claim(
            "mmcl_vs_sscl_connectivity",
            "text-induced graph is better connected than the view graph: larger lambda_{k+1}",
            "direction",
            "MMCL/SSCL lambda_k+1 "
            + ", ".join(
                f"ov {row['overlap']}: {row['mmcl']['lambda_k1']:.3f}/"
                f"{row['sscl']['lambda_k1']:.3f}"
                for row in aug
            ),
            all(row["mmcl"]["lambda_k1"] > row["sscl"]["lambda_k1"] for row in aug),
        ),
        _claim(
            "mmcl_vs_sscl_probe",
            "augmentations that never overlap across images: MMCL probes better at equal k "
            "(SSCL's optimum is then not unique: error of the SVD's pick)",
            "direction",
            "probe error MMCL/SSCL "
            + ", ".join(
                f"ov {row['overlap']}: {row['mmcl']['probe_error']:.3f}/"
                f"{row['sscl']['probe_error']:.3f}"
                for row in aug
            ),
            no_overlap["mmcl"]["probe_error"] < no_overlap["sscl"]["probe_error"]
            and all(row["mmcl"]["probe_error"] <= row["sscl"]["probe_error"] for row in aug),
        ),
        _claim(
            "mmcl_vs_sscl_bound",
            "the bound 4a/(1-s^2)+8a is smaller for MMCL than for SSCL [recall]",
            "direction (abstract)",
            "bound MMCL/SSCL "
            + ", ".join(
                f"ov {row['overlap']}: {row['mmcl']['bound']:.3g}/{row['sscl']['bound']:.3g}"
                for row in aug
            ),
            all(row["mmcl"]["bound"] < row["sscl"]["bound"] for row in aug),
        ),
        _claim(
            "alpha_inequality",
            "alpha_pseudo <= 2 alpha_pair on every world",
            "always",
            f"max alpha_pseudo / (2 alpha_pair) = {ratio:.4f} over "
            f"{b['alpha_inequality']['worlds']} random worlds",
            ratio <= 1.0 + 1e-12,
        ),
        _claim(
            "bound_valid",
            "exact probe error <= 4a/(1-s^2)+8a [recall] at every sweep point",
            "upper bound",
            f"max probe - bound {max(x['probe_error'] - x['bound'] for x in rows):.3g}, "
            f"{sum(x['bound'] < 1 for x in rows)}/{len(rows)} bounds non-vacuous (< 1)",
            all(x["probe_error"] <= x["bound"] + 1e-12 for x in rows),
        ),
    ]


def _fmt(values: list[float]) -> str:
    return "[" + ", ".join(f"{v:.3f}" for v in values) + "]"


def claims(results: dict) -> list[dict]:
    """Rows {id, statement, paper, ours, held} from `run_all`'s records; held from the numbers."""
    return _exact_claims(results) + _direction_claims(results)
