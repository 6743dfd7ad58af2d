"""Xue et al. 2024 (arXiv 2310.04971) on vector data: linear MMCL vs supervised learning, shifted.

RECON throughout: the paper's body was not read (/work/shared/papers/xue2024.md), so the data
model (`mmcl.data.synthetic`), the loss and the protocol are the spec's reconstruction, built to
test the *direction* of each claim, not the paper's figures.

Learners (each returns linear encoders W_I (r, d_I), W_T (r, d_T)):
- "svd": top-r SVD of the centred cross-covariance (`mmcl.theory.xue.svd_proxy`), spec 2c's proxy.
- "linearized": Adam on the spec 2c loss, -(1/n) sum_i s_ii + 1/(2n(n-1)) sum_{i!=j} s_ij^2
  + (rho/2) ||W_I^T W_T||_F^2 with s_ij = <W_I x_I,i, W_T x_T,j> ("square" negatives). The
  "linear" variant (Nakada et al. 2023) replaces the second term by 1/(n(n-1)) sum_{i!=j} s_ij;
  its exact minimizer is `mmcl.theory.xue.linearized_minimizer`.
- "infonce": CLIP's symmetric InfoNCE (`mmcl.losses.ClipLoss`) on L2-normalised features, fixed
  temperature, mini-batch Adam.
SL: a linear softmax classifier on x_image trained by full-batch gradient descent from zero for a
fixed budget. MMCL is scored zero-shot with the class prompts, SL with its own classifier; both on
a fresh in-distribution split ("id") and the shifted split ("ood").

Sweeps (spec section 6 items 1-6 and 8) return plain lists of records;
`claims_from_results` turns them into the claims table.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from scipy.stats import spearmanr
from torch import Tensor

from mmcl.data.synthetic import VectorData, XueConfig, generate
from mmcl.errors import MMCLError
from mmcl.losses import ClipLoss
from mmcl.models.linear import LinearEncoder
from mmcl.registry import Registry, unknown_name_message
from mmcl.theory.xue import svd_proxy
from mmcl.threads import torch_threads

NEGATIVES = ("square", "linear")
PAPER = "direction only; figure not retrieved"


@dataclass
class TrainConfig:
    """Optimisation of the MMCL learners (RECON choices, not the paper's)."""

    rank: int = 4  # r, the embedding dimension (spec: 2-8)
    steps: int = 300
    lr: float = 0.05  # Adam
    batch_size: int | None = None  # None: full batch (linearized); InfoNCE uses `infonce_batch`
    rho: float = 1.0  # weight of (rho/2) ||W_I^T W_T||_F^2
    negatives: str = "square"  # "square" (spec 2c formula) or "linear" (Nakada et al. 2023)
    temperature: float = 0.5  # InfoNCE
    infonce_batch: int = 256
    seed: int = 0


@dataclass
class SLConfig:
    """Supervised baseline: full-batch gradient descent from zero on mean cross-entropy."""

    steps: int = 300
    lr: float = 0.5
    l2: float = 0.0  # adds (l2/2) ||W||_F^2 (bias unpenalised), as sklearn with C = 1/(l2 n)


@dataclass
class Encoders:
    """Learned linear towers; `cosine` scores normalised embeddings (InfoNCE), else raw dots."""

    w_image: np.ndarray  # (r, d_I)
    w_text: np.ndarray  # (r, d_T)
    cosine: bool = False


LEARNERS: Registry[Callable[[VectorData, TrainConfig], Encoders]] = Registry("xue learner")


def linearized_contrastive_loss(
    f_image: Tensor, f_text: Tensor, w_image: Tensor, w_text: Tensor, rho: float, negatives: str
) -> Tensor:
    """The RECON linearized loss (module docstring) on features (n, r), without n x n matrices."""
    n = len(f_image)
    paired = (f_image * f_text).sum(1)  # (n,) s_ii
    if negatives == "square":  # sum_{i,j} s_ij^2 = <F_I^T F_I, F_T^T F_T>
        off = ((f_image.T @ f_image) * (f_text.T @ f_text)).sum() - paired.square().sum()
        negative = off / (2 * n * (n - 1))
    elif negatives == "linear":
        negative = (f_image.sum(0) @ f_text.sum(0) - paired.sum()) / (n * (n - 1))
    else:
        raise MMCLError(unknown_name_message("TrainConfig.negatives", negatives, NEGATIVES))
    reg = ((w_image @ w_image.T) * (w_text @ w_text.T)).sum()  # ||W_I^T W_T||_F^2
    return -paired.mean() + negative + rho / 2 * reg


def _towers(data: VectorData, cfg: TrainConfig) -> tuple[LinearEncoder, LinearEncoder]:
    torch.manual_seed(cfg.seed)
    return LinearEncoder(data.x_image.shape[1], cfg.rank), LinearEncoder(
        data.x_text.shape[1], cfg.rank
    )


def _batches(n: int, size: int | None, steps: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        yield (
            slice(None) if size is None or size >= n else torch.randint(0, n, (size,), generator=g)
        )


def _fit(data: VectorData, cfg: TrainConfig, loss_fn, batch: int | None, cosine: bool) -> Encoders:
    with torch_threads(1):
        return _fit_loop(data, cfg, loss_fn, batch, cosine)


def _fit_loop(data, cfg, loss_fn, batch, cosine) -> Encoders:
    enc_i, enc_t = _towers(data, cfg)
    x_i, x_t = torch.as_tensor(data.x_image).float(), torch.as_tensor(data.x_text).float()
    opt = torch.optim.Adam([enc_i.weight, enc_t.weight], lr=cfg.lr)
    for idx in _batches(len(x_i), batch, cfg.steps, cfg.seed):
        opt.zero_grad()
        loss_fn(enc_i, enc_t, x_i[idx], x_t[idx]).backward()
        opt.step()
    return Encoders(enc_i.weight.detach().numpy(), enc_t.weight.detach().numpy(), cosine)


@LEARNERS.register("linearized")
def train_linearized(data: VectorData, cfg: TrainConfig) -> Encoders:
    """Adam on `linearized_contrastive_loss` (full batch unless cfg.batch_size)."""

    def loss(enc_i, enc_t, x_i, x_t):
        return linearized_contrastive_loss(
            enc_i(x_i), enc_t(x_t), enc_i.weight, enc_t.weight, cfg.rho, cfg.negatives
        )

    return _fit(data, cfg, loss, cfg.batch_size, cosine=False)


@LEARNERS.register("infonce")
def train_infonce(data: VectorData, cfg: TrainConfig) -> Encoders:
    """Mini-batch Adam on CLIP's InfoNCE with logit scale 1 / temperature (fixed)."""
    clip, scale = ClipLoss(gather=False), torch.tensor(1.0 / cfg.temperature)

    def loss(enc_i, enc_t, x_i, x_t):
        return clip(F.normalize(enc_i(x_i), dim=-1), F.normalize(enc_t(x_t), dim=-1), scale)

    return _fit(data, cfg, loss, cfg.infonce_batch, cosine=True)


@LEARNERS.register("svd")
def svd_encoders(data: VectorData, cfg: TrainConfig) -> Encoders:
    """Closed form: balanced factors of the top-r SVD of the centred cross-covariance."""
    w_image, w_text = svd_proxy(data.x_image, data.x_text, cfg.rank).encoders()
    return Encoders(w_image, w_text, cosine=False)


def train_sl(data: VectorData, cfg: SLConfig, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Linear softmax regression on x_image from zero: (W (C, d_I), b (C,)) after cfg.steps GD."""
    x = torch.as_tensor(data.x_image, dtype=torch.float64)  # (n, d_I)
    y = torch.as_tensor(data.labels)
    w = torch.zeros(num_classes, x.shape[1], dtype=torch.float64, requires_grad=True)
    b = torch.zeros(num_classes, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.SGD([w, b], lr=cfg.lr)
    with torch_threads(1):
        for _ in range(cfg.steps):
            _sl_step(opt, x, y, w, b, cfg.l2)
    return w.detach().numpy(), b.detach().numpy()


def _sl_step(opt, x: Tensor, y: Tensor, w: Tensor, b: Tensor, l2: float) -> None:
    opt.zero_grad()
    loss = F.cross_entropy(x @ w.T + b, y) + l2 / 2 * w.square().sum()  # logits (n, C)
    loss.backward()
    opt.step()


def zero_shot_scores(enc: Encoders, data: VectorData) -> np.ndarray:
    """(n, C) scores <W_I x, W_T t_k>, on normalised embeddings when enc.cosine."""
    img, txt = data.x_image @ enc.w_image.T, data.prompts @ enc.w_text.T  # (n, r), (C, r)
    if enc.cosine:
        img = img / np.linalg.norm(img, axis=1, keepdims=True).clip(1e-12)
        txt = txt / np.linalg.norm(txt, axis=1, keepdims=True).clip(1e-12)
    return img @ txt.T


def per_class_accuracy(pred: np.ndarray, labels: np.ndarray, num_classes: int) -> list[float]:
    return [float((pred[labels == k] == k).mean()) for k in range(num_classes)]


def core_alignment(enc: Encoders, data: VectorData) -> dict[str, float]:
    """Binary task, C2: |cos| of learned image directions with D_I e_core and D_I e_spurious.

    "top": the top right singular vector of W_T^T W_I (the spec's measure). "zs": the image
    direction the zero-shot rule reads, W_I^T W_T (t_1 - t_0) (for cosine models this is the
    direction before the per-image normalisation, which does not change the sign).
    """
    product = enc.w_text.T @ enc.w_image  # (d_T, d_I)
    top = np.linalg.svd(product)[2][0]  # (d_I,)
    zs = product.T @ (data.prompts[1] - data.prompts[0])  # (d_I,)
    zs = zs / max(np.linalg.norm(zs), 1e-12)
    core, spur = data.core_image_dirs[0], data.spurious_image_dirs[0]  # (d_I,) unit vectors
    return {
        "core_alignment": float(abs(top @ core)),
        "spurious_alignment": float(abs(top @ spur)),
        "zs_core_alignment": float(abs(zs @ core)),
        "zs_spurious_alignment": float(abs(zs @ spur)),
    }


@dataclass
class Scale:
    """Size preset of the sweeps."""

    n: int
    n_test: int
    steps: int
    sl_steps: int
    seeds: tuple[int, ...]


SCALES = {
    "tiny": Scale(n=1000, n_test=1000, steps=200, sl_steps=300, seeds=(0,)),
    "small": Scale(n=5000, n_test=5000, steps=600, sl_steps=600, seeds=(0, 1, 2)),
    "paper": Scale(n=20000, n_test=10000, steps=1500, sl_steps=1500, seeds=(0, 1, 2, 3, 4)),
}
MMCL_LEARNERS = ("svd", "linearized", "infonce")


def _scale(name: str) -> Scale:
    if name not in SCALES:
        raise MMCLError(unknown_name_message("xue2024 scale", name, list(SCALES)))
    return SCALES[name]


def evaluate_config(
    cfg: XueConfig, learners: Sequence[str], train_cfg: TrainConfig, sl_cfg: SLConfig | None
) -> list[dict]:
    """Fit each MMCL learner (and SL unless sl_cfg is None) on one config; one record per model."""
    train, splits = generate(cfg, "train"), {s: generate(cfg, s) for s in ("id", "ood")}
    records = []
    for name in learners:
        if name not in LEARNERS:
            raise MMCLError(unknown_name_message("xue learner", name, LEARNERS.names()))
        enc = LEARNERS.get(name)(train, train_cfg)
        preds = {s: zero_shot_scores(enc, d).argmax(1) for s, d in splits.items()}
        record = _record(name, preds, splits, cfg.num_classes)
        if cfg.task == "binary":
            record.update(core_alignment(enc, train))
        records.append(record)
    if sl_cfg is not None:
        w, b = train_sl(train, sl_cfg, cfg.num_classes)
        preds = {s: (d.x_image @ w.T + b).argmax(1) for s, d in splits.items()}
        records.append(_record("sl", preds, splits, cfg.num_classes))
    return records


def _record(learner: str, preds: dict, splits: dict, num_classes: int) -> dict:
    ood = splits["ood"]
    return {
        "learner": learner,
        "id_acc": float((preds["id"] == splits["id"].labels).mean()),
        "ood_acc": float((preds["ood"] == ood.labels).mean()),
        "ood_acc_per_class": per_class_accuracy(preds["ood"], ood.labels, num_classes),
    }


def _sweep(
    experiment: str,
    param: str,
    values: Sequence,
    scale: str,
    seeds: Sequence[int] | None,
    base: dict | None = None,
    learners: Sequence[str] = MMCL_LEARNERS,
    train_overrides: dict | None = None,
) -> list[dict]:
    """Grid over one XueConfig field (or TrainConfig field when `param` starts with 'train.')."""
    sc = _scale(scale)
    records = []
    for seed in sc.seeds if seeds is None else seeds:
        for value in values:
            fields = {"n": sc.n, "n_test": sc.n_test, "seed": seed, **(base or {})}
            train_fields = {"steps": sc.steps, "seed": seed, **(train_overrides or {})}
            if param.startswith("train."):
                train_fields[param.removeprefix("train.")] = value
            else:
                fields.update(_expand(param, value))
            rows = evaluate_config(
                XueConfig(**fields),
                learners,
                TrainConfig(**train_fields),
                SLConfig(steps=sc.sl_steps),
            )
            records += [
                {"experiment": experiment, "seed": seed, "param": param, "value": value, **r}
                for r in rows
            ]
    return records


def _expand(param: str, value) -> dict:
    """'caption_richness' sets both spurious and nuisance annotation probabilities (C4)."""
    if param == "caption_richness":
        return {"annotate_spurious": value, "annotate_nuisance": value}
    return {param: value}


def sweep_c1(scale: str = "tiny", seeds: Sequence[int] | None = None) -> list[dict]:
    """Item 1: MMCL vs SL at p_train = 0.95, flipped test (p_test = 0.05)."""
    return _sweep("c1", "p_train", [0.95], scale, seeds)


def sweep_sigma_core(scale: str = "tiny", seeds: Sequence[int] | None = None) -> list[dict]:
    """Item 2: core within-class std sigma_c in {0, .25, .5, 1, 2}, sigma_s = 0.1."""
    return _sweep("sigma_core", "sigma_core", [0.0, 0.25, 0.5, 1.0, 2.0], scale, seeds)


def sweep_prototype(scale: str = "tiny", seeds: Sequence[int] | None = None) -> list[dict]:
    """Item 3: per-sample captions (True) vs class-prototype captions (False)."""
    return _sweep("prototype", "intra_class_variation", [True, False], scale, seeds)


def sweep_sigma_spurious(scale: str = "tiny", seeds: Sequence[int] | None = None) -> list[dict]:
    """Item 4: spurious within-class std sigma_s in {0.05, 0.1, 0.3, 1}, sigma_c = 1."""
    return _sweep("sigma_spurious", "sigma_spurious", [0.05, 0.1, 0.3, 1.0], scale, seeds)


def sweep_sharing(scale: str = "tiny", seeds: Sequence[int] | None = None) -> list[dict]:
    """Item 5: K = B = 5, association 0.9, details annotated in all / only class 0 / no captions.

    Rank r = K, the smallest that can separate all classes.
    """
    base = {
        "task": "multiclass",
        "n_classes": 5,
        "n_details": 5,
        "association": 0.9,
        "annotate_nuisance": 0.0,
    }  # unmentioned nuisance: 8 unit directions would outrank
    # the one-hot cores (second moment 2/K) in a rank-K model
    return _sweep(
        "sharing",
        "annotate_details",
        ["all", "class0", "none"],
        scale,
        seeds,
        base,
        train_overrides={"rank": 5},
    )


def sweep_richness(scale: str = "tiny", seeds: Sequence[int] | None = None) -> list[dict]:
    """Item 6: caption richness q in {0, .25, .5, 1} (spurious and nuisance annotation)."""
    return _sweep("richness", "caption_richness", [0.0, 0.25, 0.5, 1.0], scale, seeds)


def sweep_losses(scale: str = "tiny", seeds: Sequence[int] | None = None) -> list[dict]:
    """Item 8: item 1 per loss: SVD proxy, both linearized variants, InfoNCE at T in {.1, 1}."""
    runs = [
        _sweep(
            "losses", "train.negatives", ["square", "linear"], scale, seeds, None, ("linearized",)
        ),
        _sweep("losses", "train.temperature", [0.1, 1.0], scale, seeds, None, ("infonce",)),
        _sweep("losses", "p_train", [0.95], scale, seeds, None, ("svd",)),
    ]
    sl_once = [r for r in runs[2] if r["learner"] == "sl"]
    return [r for run in runs for r in run if r["learner"] != "sl"] + sl_once


def sweep_p_train(scale: str = "tiny", seeds: Sequence[int] | None = None) -> list[dict]:
    """Spurious strength: p_train in {.5, .7, .9, .95}, test flipped (p_test = 1 - p_train).

    For the report's accuracy-vs-spurious-strength plot; not one of `SWEEPS` (no claim reads it).
    """
    return _sweep("p_train", "p_train", [0.5, 0.7, 0.9, 0.95], scale, seeds)


SWEEPS = {
    "c1": sweep_c1,
    "sigma_core": sweep_sigma_core,
    "prototype": sweep_prototype,
    "sigma_spurious": sweep_sigma_spurious,
    "sharing": sweep_sharing,
    "richness": sweep_richness,
    "losses": sweep_losses,
}


def run_all(scale: str = "tiny", seeds: Sequence[int] | None = None) -> dict[str, list[dict]]:
    """Every sweep: {experiment name: records}."""
    return {name: sweep(scale, seeds) for name, sweep in SWEEPS.items()}


def _per_value(records: list[dict], learner: str, key: str) -> dict:
    """{sweep value: per-seed array of records[key]} for one learner, in sweep order."""
    table: dict = {}
    for r in records:
        if r["learner"] == learner:
            table.setdefault(r["value"], {})[r["seed"]] = r[key]
    return {v: np.array([by_seed[s] for s in sorted(by_seed)]) for v, by_seed in table.items()}


def _gap(records: list[dict], learner: str) -> dict:
    """{value: per-seed MMCL OOD accuracy minus SL OOD accuracy} (paired by seed)."""
    mmcl, sl = _per_value(records, learner, "ood_acc"), _per_value(records, "sl", "ood_acc")
    return {v: mmcl[v] - sl[v] for v in mmcl}


def _fmt(values: np.ndarray) -> str:
    return f"{values.mean():.3f}" + (f"±{values.std(ddof=1):.3f}" if len(values) > 1 else "")


def _rises(table: dict) -> tuple[bool, float]:
    """(held, Spearman rho of seed means vs sweep order): rises if rho > 0 and last > first."""
    means = [float(v.mean()) for v in table.values()]
    rho = float(spearmanr(np.arange(len(means)), means).statistic) if len(set(means)) > 1 else 0.0
    return bool(rho > 0 and means[-1] > means[0]), rho


def _series(table: dict) -> str:
    return ", ".join(f"{k}: {_fmt(v)}" for k, v in table.items())


def _row(cid: str, statement: str, ours: str, held: bool, values: dict) -> dict:
    return {
        "id": cid,
        "statement": statement,
        "paper": PAPER,
        "ours": ours,
        "held": bool(held),
        "values": values,
    }


def _claims_c1(results: dict, learner: str) -> list[dict]:
    recs = results["c1"]
    mmcl, sl = _per_value(recs, learner, "ood_acc"), _per_value(recs, "sl", "ood_acc")
    gap = _gap(recs, learner)
    (v,) = gap
    ours = f"OOD {learner} {_fmt(mmcl[v])} vs SL {_fmt(sl[v])}, gap {_fmt(gap[v])}"
    return [
        _row(
            f"C1/{learner}",
            "MMCL zero-shot OOD accuracy > SL OOD accuracy under a flipped spurious feature",
            ours,
            gap[v].mean() > 0,
            {"mmcl_ood": mmcl[v].mean(), "sl_ood": sl[v].mean(), "gap": gap[v].mean()},
        )
    ]


def _claims_c2(results: dict, learner: str) -> list[dict]:
    recs, rows = results["sigma_core"], []
    for key, what in (
        ("core_alignment", "top learned image direction"),
        ("zs_core_alignment", "zero-shot image direction"),
    ):
        align = _per_value(recs, learner, key)
        held, rho = _rises(align)
        rows.append(
            _row(
                f"C2-{key}/{learner}",
                f"|cos(core, {what})| rises with sigma_core",
                f"sigma_core -> alignment: {_series(align)}; spearman {rho:+.2f}",
                held,
                {str(k): v.mean() for k, v in align.items()},
            )
        )
    gap = _gap(recs, learner)
    first, last = list(gap)[0], list(gap)[-1]
    rows.append(
        _row(
            f"C2-gap/{learner}",
            "MMCL - SL OOD gap grows with sigma_core (small at 0)",
            f"sigma_core -> gap: {_series(gap)}",
            gap[last].mean() > gap[first].mean(),
            {str(k): v.mean() for k, v in gap.items()},
        )
    )
    ood = _per_value(results["prototype"], learner, "ood_acc")
    rows.append(
        _row(
            f"C2-prototype/{learner}",
            "intra-class variation in captions matters: "
            "per-sample captions beat class-prototype captions OOD",
            f"OOD per-sample {_fmt(ood[True])} vs prototype {_fmt(ood[False])}",
            ood[True].mean() > ood[False].mean(),
            {"per_sample": ood[True].mean(), "prototype": ood[False].mean()},
        )
    )
    gap = _gap(results["sigma_spurious"], learner)
    small, large = min(gap), max(gap)
    rows.append(
        _row(
            f"A4.2/{learner}",
            "MMCL - SL OOD gap is larger at small sigma_spurious",
            f"sigma_spurious -> gap: {_series(gap)}",
            gap[small].mean() > gap[large].mean(),
            {str(k): v.mean() for k, v in gap.items()},
        )
    )
    return rows


def _claims_c3_c4(results: dict, learner: str) -> list[dict]:
    ood = _per_value(results["sharing"], learner, "ood_acc")
    a, c, b = ood["all"].mean(), ood["class0"].mean(), ood["none"].mean()
    ours = f"OOD all {_fmt(ood['all'])}, class0 {_fmt(ood['class0'])}, none {_fmt(ood['none'])}"
    values = {"all": a, "class0": c, "none": b}
    rich = _per_value(results["richness"], learner, "ood_acc")
    held, rho = _rises(rich)
    return [
        _row(
            f"C3/{learner}",
            "details shared across classes matter: annotating them in all "
            "classes raises OOD accuracy over no annotation",
            ours,
            a > b,
            values,
        ),
        _row(
            f"C3-order/{learner}",
            "OOD accuracy: annotate all > only class 0 > none",
            ours,
            a > c > b,
            values,
        ),
        _row(
            f"C4/{learner}",
            "richer captions (annotation probability q) raise OOD accuracy",
            f"q -> OOD: {_series(rich)}; spearman {rho:+.2f}",
            held,
            {str(k): v.mean() for k, v in rich.items()},
        ),
    ]


def _claim_losses(results: dict) -> dict:
    recs = results["losses"]
    sl = _per_value(recs, "sl", "ood_acc")[0.95]
    gaps = {f"{r['learner']}[{r['param']}={r['value']}]": [] for r in recs if r["learner"] != "sl"}
    for r in sorted(recs, key=lambda r: r["seed"]):
        if r["learner"] != "sl":
            gaps[f"{r['learner']}[{r['param']}={r['value']}]"].append(r["ood_acc"])
    gaps = {k: np.array(v) - sl for k, v in gaps.items()}
    signs = {bool(v.mean() > 0) for v in gaps.values()}
    return _row(
        "C8",
        "every loss (SVD proxy, linearized, InfoNCE) gives the same sign of the MMCL - SL OOD gap",
        "gap: " + ", ".join(f"{k} {_fmt(v)}" for k, v in gaps.items()),
        len(signs) == 1,
        {k: v.mean() for k, v in gaps.items()},
    )


def claims_from_results(results: dict[str, list[dict]]) -> list[dict]:
    """Claims table rows {id, statement, paper, ours, held, values}; `held` from the numbers.

    `results` is `run_all`'s output (any subset of learners; seeds averaged, std when > 1).
    """
    missing = [name for name in SWEEPS if name not in results]
    if missing:
        raise MMCLError(f"claims_from_results: results lack sweeps {missing}; run run_all()")
    learners = [name for name in MMCL_LEARNERS if any(r["learner"] == name for r in results["c1"])]
    rows = []
    for learner in learners:
        rows += _claims_c1(results, learner) + _claims_c2(results, learner)
        rows += _claims_c3_c4(results, learner)
    return rows + [_claim_losses(results)]
