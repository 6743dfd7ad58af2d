"""Vector image-caption pairs for Xue et al. 2024 (arXiv 2310.04971): core, spurious, nuisance.

RECON: the paper's body (its data model, Sec. 3-4) could not be read. This generator is the
reconstruction of xue2024.md in the shared specs section 2b, built only so that the *direction* of
each claim can be tested; it is not the paper's definition.

Binary task (y in {-1, +1}, label 0 <-> y = -1): latent z = [z_c, z_s, z_o] with
z_c = y (1 + sigma_c g_c) (high within-class variance), z_s = a (1 + sigma_s g_s) where a = y with
probability p (the spurious agreement) else -y, and nuisance z_o ~ N(0, I_m). The image is
x_I = D_I z + xi_I and the caption x_T = D_T [z_c, z_s 1{annotated}, z_o * mask] + xi_T, both
with orthonormal-column dictionaries D and noise xi ~ N(0, sigma_xi^2 / d I). The caption shares
the image's latent values; with `intra_class_variation=False` it carries the class prototype
(z_c = y) instead, which removes what intra-class contrasting could exploit.

Multi-class task (inter-class feature sharing): core one-hot e_y (1 + sigma_c g) over K classes, a
detail (background) one-hot e_b (1 + sigma_s g) over B details, nuisance as above. In training the
detail is class y's own (y mod B) with probability `association`, otherwise uniform over the
others; at test the class-to-detail map is shifted by one (y + 1 mod B). Captions annotate the
detail in every class ("all"), in none, or only in class 0's captions ("class0").

D_I and D_T depend only on the seed, so every split of one config shares them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mmcl.errors import MMCLError

SPLITS = ("train", "id", "ood")  # training set, fresh in-distribution test, shifted test
TASKS = ("binary", "multiclass")
DETAIL_ANNOTATION = ("all", "none", "class0")


@dataclass
class XueConfig:
    """Every knob of the RECON generator (xue2024.md 2b); defaults follow the spec's examples."""

    task: str = "binary"  # "binary" (core vs spurious) or "multiclass" (shared details, C3)
    n: int = 2000  # training pairs
    n_test: int = 2000  # pairs in each of the "id" and "ood" splits
    d_image: int = 50
    d_text: int = 50
    sigma_core: float = 1.0  # within-class std of the core latent (large: Assumption 4.2)
    sigma_spurious: float = 0.1  # within-class std of the spurious latent (~ 1/sqrt(log n))
    p_train: float = 0.95  # P(spurious agrees with the class) in training
    p_test: float | None = None  # shifted test; None flips it: 1 - p_train
    n_nuisance: int = 8  # m, N(0, 1) coordinates shared by image and (annotated) caption
    sigma_noise: float = 1.0  # sigma_xi: total noise std, spread over the d ambient dims
    annotate_spurious: float = 1.0  # P(a caption mentions the spurious latent), binary task
    annotate_nuisance: float = 1.0  # q: P(a caption mentions each nuisance coordinate)
    intra_class_variation: bool = True  # False: captions carry the class prototype core only
    n_classes: int = 5  # K, multiclass task
    n_details: int = 5  # B details (backgrounds), multiclass task
    association: float = 0.9  # P(detail = the class's own detail), multiclass task
    annotate_details: str = "all"  # "all" | "none" | "class0", multiclass task
    seed: int = 0

    def __post_init__(self) -> None:
        self.validate()

    @property
    def shifted_p(self) -> float:
        """The spurious agreement probability of the "ood" split."""
        return 1.0 - self.p_train if self.p_test is None else self.p_test

    @property
    def n_core(self) -> int:
        return 1 if self.task == "binary" else self.n_classes

    @property
    def n_spurious(self) -> int:
        return 1 if self.task == "binary" else self.n_details

    @property
    def n_latent(self) -> int:
        return self.n_core + self.n_spurious + self.n_nuisance

    @property
    def num_classes(self) -> int:
        return 2 if self.task == "binary" else self.n_classes

    def validate(self) -> None:
        """Raise MMCLError naming the first bad field and the allowed values."""
        _check(self.task in TASKS, "task", f"one of {TASKS}", self.task)
        _check(
            self.annotate_details in DETAIL_ANNOTATION,
            "annotate_details",
            f"one of {DETAIL_ANNOTATION}",
            self.annotate_details,
        )
        for name in ("n", "n_test", "n_classes", "n_details"):
            _check(getattr(self, name) >= 2, name, "an integer >= 2", getattr(self, name))
        _check(self.n_nuisance >= 0, "n_nuisance", "an integer >= 0", self.n_nuisance)
        for name in ("sigma_core", "sigma_spurious", "sigma_noise"):
            _check(getattr(self, name) >= 0, name, "a float >= 0", getattr(self, name))
        for name in ("p_train", "annotate_spurious", "annotate_nuisance", "association"):
            value = getattr(self, name)
            _check(0.0 <= value <= 1.0, name, "a probability in [0, 1]", value)
        if self.p_test is not None:
            _check(
                0.0 <= self.p_test <= 1.0, "p_test", "a probability in [0, 1] or None", self.p_test
            )
        for name in ("d_image", "d_text"):
            _check(
                getattr(self, name) >= self.n_latent,
                name,
                f">= the number of latent coordinates ({self.n_latent})",
                getattr(self, name),
            )


def _check(ok: bool, field: str, wanted: str, got: object) -> None:
    if not ok:
        raise MMCLError(f"XueConfig.{field} must be {wanted}, got {got!r}; fix that field")


@dataclass
class VectorData:
    """One split: paired vectors, labels, the latents behind them and zero-shot class prompts.

    x_image (n, d_I), x_text (n, d_T), labels (n,) int in [0, C). z_core (n, n_core) and
    z_spurious (n, n_spurious) are the *image* latents; spurious_agrees (n,) bool says whether the
    spurious/detail latent matches the class's training association; detail_ids (n,) int is the
    spurious sign as 0/1 (binary) or the detail index (multiclass); annotated (n, n_latent) bool
    marks the latent coordinates the caption mentions. prompts (C, d_T) are captions with the core
    latent of each class and nothing else; core_image_dirs (n_core, d_I) = D_I e_core,
    spurious_image_dirs (n_spurious, d_I) likewise.
    """

    x_image: np.ndarray
    x_text: np.ndarray
    labels: np.ndarray
    z_core: np.ndarray
    z_spurious: np.ndarray
    spurious_agrees: np.ndarray
    detail_ids: np.ndarray
    annotated: np.ndarray
    prompts: np.ndarray
    core_image_dirs: np.ndarray
    spurious_image_dirs: np.ndarray


def dictionaries(cfg: XueConfig) -> tuple[np.ndarray, np.ndarray]:
    """(D_I (d_I, k), D_T (d_T, k)) with orthonormal columns, fixed by the seed alone."""
    rng = np.random.default_rng([cfg.seed, 7919])
    d_i, _ = np.linalg.qr(rng.standard_normal((cfg.d_image, cfg.n_latent)))
    d_t, _ = np.linalg.qr(rng.standard_normal((cfg.d_text, cfg.n_latent)))
    return d_i, d_t


def generate(cfg: XueConfig, split: str) -> VectorData:
    """Draw one split ("train", "id" or "ood"); deterministic from (cfg, split)."""
    if split not in SPLITS:
        raise MMCLError(f"synthetic split must be one of {SPLITS}, got {split!r}")
    cfg.validate()
    rng = np.random.default_rng([cfg.seed, SPLITS.index(split) + 1])
    n = cfg.n if split == "train" else cfg.n_test
    draw = _binary_latents if cfg.task == "binary" else _multiclass_latents
    labels, z_core, z_spur, agrees, details, caption_core = draw(cfg, split, n, rng)
    z_nuis = rng.standard_normal((n, cfg.n_nuisance))  # (n, m)
    ann_spur, ann_nuis = _annotation(cfg, labels, n, rng)  # (n, n_spur), (n, m) bool
    z_image = np.concatenate([z_core, z_spur, z_nuis], axis=1)  # (n, k)
    z_text = np.concatenate([caption_core, z_spur * ann_spur, z_nuis * ann_nuis], axis=1)
    annotated = np.concatenate([np.ones_like(z_core, bool), ann_spur, ann_nuis], axis=1)
    d_i, d_t = dictionaries(cfg)
    return VectorData(
        x_image=z_image @ d_i.T + _noise(cfg, rng, n, cfg.d_image),  # (n, d_I)
        x_text=z_text @ d_t.T + _noise(cfg, rng, n, cfg.d_text),  # (n, d_T)
        labels=labels,
        z_core=z_core,
        z_spurious=z_spur,
        spurious_agrees=agrees,
        detail_ids=details,
        annotated=annotated,
        prompts=class_prompts(cfg),
        core_image_dirs=d_i[:, : cfg.n_core].T,
        spurious_image_dirs=d_i[:, cfg.n_core : cfg.n_core + cfg.n_spurious].T,
    )


def class_prompts(cfg: XueConfig) -> np.ndarray:
    """(C, d_T) zero-shot prompts: D_T [core latent of class k, 0, 0]; no spurious content."""
    _, d_t = dictionaries(cfg)
    binary = np.array([[-1.0], [1.0]])  # class 0 <-> y = -1
    core = binary if cfg.task == "binary" else np.eye(cfg.n_classes)
    latent = np.zeros((cfg.num_classes, cfg.n_latent))
    latent[:, : cfg.n_core] = core
    return latent @ d_t.T


def _noise(cfg: XueConfig, rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    return rng.standard_normal((n, d)) * cfg.sigma_noise / np.sqrt(d)  # (n, d)


def _binary_latents(cfg: XueConfig, split: str, n: int, rng: np.random.Generator):
    p = cfg.p_train if split != "ood" else cfg.shifted_p
    y = rng.choice([-1.0, 1.0], size=n)  # (n,)
    agrees = rng.random(n) < p
    a = np.where(agrees, y, -y)
    z_c = y * (1.0 + cfg.sigma_core * rng.standard_normal(n))
    z_s = a * (1.0 + cfg.sigma_spurious * rng.standard_normal(n))
    caption_core = z_c if cfg.intra_class_variation else y  # prototype = class mean E[z_c | y]
    labels = (y > 0).astype(np.int64)
    return (
        labels,
        z_c[:, None],
        z_s[:, None],
        agrees,
        (a > 0).astype(np.int64),
        caption_core[:, None],
    )


def _multiclass_latents(cfg: XueConfig, split: str, n: int, rng: np.random.Generator):
    k, b = cfg.n_classes, cfg.n_details
    labels = rng.integers(0, k, size=n)
    shift = 1 if split == "ood" else 0  # test: each class meets its neighbour's detail
    home = (labels + shift) % b
    agrees = rng.random(n) < cfg.association
    other = (home + rng.integers(1, b, size=n)) % b  # uniform over the b - 1 other details
    details = np.where(agrees, home, other)
    scale_c = 1.0 + cfg.sigma_core * rng.standard_normal(n)
    scale_s = 1.0 + cfg.sigma_spurious * rng.standard_normal(n)
    z_c = np.eye(k)[labels] * scale_c[:, None]  # (n, K)
    z_s = np.eye(b)[details] * scale_s[:, None]  # (n, B)
    caption_core = z_c if cfg.intra_class_variation else np.eye(k)[labels]
    own = details == labels % b  # agreement with the *training* association
    return labels, z_c, z_s, own, details, caption_core


def _annotation(cfg: XueConfig, labels: np.ndarray, n: int, rng: np.random.Generator):
    """(spurious mask (n, n_spur), nuisance mask (n, m)) of the latents each caption mentions."""
    if cfg.task == "binary":
        spur = rng.random((n, 1)) < cfg.annotate_spurious
    else:
        rows = {"all": np.ones(n, bool), "none": np.zeros(n, bool), "class0": labels == 0}
        spur = np.repeat(rows[cfg.annotate_details][:, None], cfg.n_details, axis=1)
    return spur, rng.random((n, cfg.n_nuisance)) < cfg.annotate_nuisance
