"""Resampled SimCLR (zhang2023 2.2): every mask and loss against naive loops, and the method."""

from __future__ import annotations

import importlib.util
import math
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from open_clip.constants import OPENAI_DATASET_MEAN as OPENAI_MEAN
from open_clip.constants import OPENAI_DATASET_STD as OPENAI_STD

from mmcl.data.worlds.base import WorldSplit
from mmcl.errors import MMCLError
from mmcl.losses import NTXentLoss
from mmcl.losses.resampled import (
    neighbour_ntxent,
    resampled_ntxent,
    resampling_masks,
    teacher_similarity,
)
from mmcl.methods.base import DataInfo, MethodConfig, build_method
from mmcl.methods.partner_views import PARTNER_KEY, PartnerViewDataset
from mmcl.methods.teachers import LabelOracleTeacher, RandomProjectionTeacher
from mmcl.models.model import ModelConfig
from mmcl.resampling import ResamplingConfig

N, D, DT, TAU = 6, 5, 4, 0.3
WORKER = Path(__file__).with_name("resampling_ddp_worker.py")


def _features(seed: int = 0, n: int = N):
    g = torch.Generator().manual_seed(seed)
    z1, z2 = torch.randn(n, D, generator=g), torch.randn(n, D, generator=g)
    c1, c2 = torch.randn(n, DT, generator=g), torch.randn(n, DT, generator=g)
    return z1.double(), z2.double(), c1, c2


def _cfg(**ratios: float) -> ResamplingConfig:
    return ResamplingConfig(teacher="random_projection", **ratios)


def _naive_masks(S: torch.Tensor, cfg: ResamplingConfig):
    """Row by row, with Python sorts; ties go to the lower index (the documented rule)."""
    n2 = len(S)
    n = n2 // 2
    s = S.tolist()
    partner = [(i + n) % n2 for i in range(n2)]
    candidates = [[j for j in range(n2) if j not in (i, partner[i])] for i in range(n2)]
    positive = [{partner[i]} for i in range(n2)]
    new = [-1] * n2
    if cfg.new_positive_ratio > 0:
        nearest = [max(candidates[i], key=lambda j, i=i: (s[i][j], -j)) for i in range(n2)]
        order = sorted(range(n2), key=lambda i: (-s[i][nearest[i]], i))
        for i in order[: int(cfg.new_positive_ratio * n2 + 1e-9)]:
            new[i] = nearest[i]
            positive[i].add(nearest[i])
    negative = []
    k_easy = int(cfg.easy_negative_ratio * (n2 - 2) + 1e-9)
    k_false = int(cfg.false_negative_ratio * (n2 - 2) + 1e-9)
    for i in range(n2):
        by_sim = sorted(candidates[i], key=lambda j, i=i: (s[i][j], j))
        by_sim_desc = sorted(candidates[i], key=lambda j, i=i: (-s[i][j], j))
        dropped = set(by_sim[:k_easy]) | set(by_sim_desc[:k_false])
        negative.append({j for j in candidates[i] if j not in dropped} - positive[i])
    if cfg.false_positive_ratio > 0 and not cfg.faithful_to_repo:
        pairs = sorted(range(n), key=lambda b: (s[b][b + n], b))
        for b in pairs[: int(cfg.false_positive_ratio * n + 1e-9)]:
            for i in (b, b + n):
                positive[i], new[i] = set(), -1
    return positive, negative, new


def _naive_loss(z1, z2, positive, negative) -> float:
    z = F.normalize(torch.cat([z1, z2]), dim=-1)
    logits = (z @ z.T / TAU).tolist()
    losses = []
    for i, pos in enumerate(positive):
        if not pos:
            continue
        allowed = pos | negative[i]
        lse = math.log(sum(math.exp(logits[i][j]) for j in allowed))
        losses.append(sum(lse - logits[i][j] for j in pos) / len(pos))
    return sum(losses) / len(losses)


VARIANTS = [
    {"new_positive_ratio": 1.0},
    {"new_positive_ratio": 0.5},
    {"easy_negative_ratio": 0.3},
    {"false_negative_ratio": 0.25},
    {"false_positive_ratio": 0.34},
    {"new_positive_ratio": 1.0, "false_negative_ratio": 0.2, "easy_negative_ratio": 0.2},
    {"false_positive_ratio": 0.5, "new_positive_ratio": 1.0},
]


@pytest.mark.parametrize("ratios", VARIANTS)
@pytest.mark.parametrize("seed", [0, 1])
def test_masks_and_loss_match_naive_loops(ratios, seed):
    z1, z2, c1, c2 = _features(seed)
    cfg = _cfg(**ratios)
    loss, masks, own = resampled_ntxent(z1, z2, c1, c2, cfg, TAU, gather=False)
    positive, negative, new = _naive_masks(teacher_similarity(c1, c2), cfg)
    assert own.tolist() == list(range(2 * N))
    for i in range(2 * N):
        assert set(masks.positive[i].nonzero().flatten().tolist()) == positive[i]
        assert set(masks.negative[i].nonzero().flatten().tolist()) == negative[i]
    assert masks.new_positive.tolist() == new
    assert loss.item() == pytest.approx(_naive_loss(z1, z2, positive, negative), abs=1e-10)


def test_ties_are_broken_by_index():
    S = torch.ones(8, 8)  # every candidate ties (a label oracle on one class)
    cfg = _cfg(new_positive_ratio=1.0, easy_negative_ratio=0.34)
    masks = resampling_masks(S, cfg)
    _, negative, new = _naive_masks(S, cfg)
    assert masks.new_positive.tolist() == new
    assert [set(r.nonzero().flatten().tolist()) for r in masks.negative] == negative


@pytest.mark.parametrize("seed", [0, 3])
def test_zero_ratios_are_plain_ntxent(seed):
    z1, z2, c1, c2 = _features(seed)
    reference = NTXentLoss(TAU, gather=False)(z1, z2)
    loss, masks, _ = resampled_ntxent(z1, z2, None, None, ResamplingConfig(), TAU, gather=False)
    assert loss.item() == pytest.approx(reference.item(), abs=1e-12)
    assert (masks.new_positive == -1).all()


def test_faithful_false_positive_is_the_repo_no_op():
    z1, z2, c1, c2 = _features(2)
    cfg = _cfg(false_positive_ratio=0.5, faithful_to_repo=True)
    loss, _, _ = resampled_ntxent(z1, z2, c1, c2, cfg, TAU, gather=False)
    assert loss.item() == pytest.approx(NTXentLoss(TAU, gather=False)(z1, z2).item(), abs=1e-12)
    intended, _, _ = resampled_ntxent(z1, z2, c1, c2, _cfg(false_positive_ratio=0.5), TAU, False)
    assert intended.item() != pytest.approx(loss.item(), abs=1e-6)


def test_label_oracle_new_positives_share_the_class():
    labels = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])  # every class has >= 2 samples
    oracle = LabelOracleTeacher(num_classes=3)
    c = oracle.embed(torch.zeros(8, 3, 2, 2), labels)
    z1, z2, _, _ = _features(0, n=8)
    cfg = ResamplingConfig(teacher="label_oracle", new_positive_ratio=1.0)
    _, masks, _ = resampled_ntxent(z1, z2, c, c, cfg, TAU, gather=False)
    both = labels.repeat(2)
    q = masks.new_positive
    assert (q >= 0).all()
    assert (both[q] == both).all()
    assert (q != torch.arange(16)).all() and (q != (torch.arange(16) + 8) % 16).all()


def test_neighbour_loss_matches_naive_loop():
    z1, z2, _, _ = _features(4)
    g = torch.Generator().manual_seed(9)
    z_nb = torch.randn(N, D, generator=g).double()
    loss = neighbour_ntxent(z1, z2, z_nb, TAU, gather=False)
    z = F.normalize(torch.cat([z1, z2, z_nb]), dim=-1)
    logits = (z[: 2 * N] @ z.T / TAU).tolist()
    total = 0.0
    for i in range(2 * N):
        pos = {(i + N) % (2 * N), 2 * N + i % N}
        lse = math.log(sum(math.exp(logits[i][j]) for j in range(3 * N) if j != i))
        total += sum(lse - logits[i][j] for j in pos) / 2
    assert loss.item() == pytest.approx(total / (2 * N), abs=1e-10)


def test_config_validation_names_the_fix():
    with pytest.raises(MMCLError, match="needs a teacher"):
        ResamplingConfig(new_positive_ratio=1.0).validate()
    with pytest.raises(MMCLError, match="neighbours=index"):
        cfg = ResamplingConfig(teacher="label_oracle", neighbours="index", easy_negative_ratio=0.1)
        cfg.validate()
    with pytest.raises(MMCLError, match="new_positive_ratio"):
        ResamplingConfig(teacher="label_oracle", new_positive_ratio=1.5).validate()


def test_random_projection_teacher_is_fixed_and_pixel_based():
    images = torch.randn(4, 3, 8, 8)
    a = RandomProjectionTeacher(16, seed=1).embed(images, torch.zeros(4, dtype=torch.long))
    b = RandomProjectionTeacher(16, seed=1).embed(images, torch.zeros(4, dtype=torch.long))
    torch.testing.assert_close(a, b)
    assert a.shape == (4, 16)


def _tiny_split(n: int = 12) -> WorldSplit:
    g = torch.Generator().manual_seed(0)
    return WorldSplit(
        name="train",
        images=torch.randint(0, 256, (n, 3, 16, 16), dtype=torch.uint8, generator=g),
        labels=torch.arange(n) % 3,
        attributes={},
        attribute_values={},
        captions=[f"c{i % 4}" for i in range(n)],
        class_names=["a", "b", "c"],
        prompt_templates=["a {}."],
    )


def _method(**resampling):
    settings = ResamplingConfig(**resampling)
    settings.validate()
    cfg = MethodConfig(name="resampled_simclr", temperature=TAU)
    cfg = cfg.with_section("resampling", settings)
    assert cfg.settings is settings and cfg.resampling is settings
    model_cfg = ModelConfig(width=2, embed_dim=8, channels_last=False)
    return build_method(cfg, model_cfg, DataInfo(image_size=16, num_classes=3))


def test_method_trains_with_oracle_and_keeps_teacher_out_of_the_checkpoint():
    torch.manual_seed(0)
    split = _tiny_split()
    method = _method(teacher="label_oracle", new_positive_ratio=1.0, false_negative_ratio=0.1)
    ds = PartnerViewDataset(split, torch.arange(12)[:, None], mode="replace")  # self-partners
    out = method.training_forward(ds.__getitems__(list(range(8))))
    out["resampled_ntxent_loss"].backward()
    assert out["new_positive_same_class"].item() == 1.0
    assert all(p.grad is not None for p in method.model.image_tower.parameters())
    assert not any("teacher" in key for key in method.state_dict())


def test_partner_views_draw_only_candidates():
    torch.manual_seed(0)
    split = _tiny_split()
    partners = torch.full((12, 2), -1)
    partners[:, 0] = (torch.arange(12) + 4) % 12  # same caption c{i % 4}
    partners[:6, 1] = (torch.arange(6) + 8) % 12
    ds = PartnerViewDataset(split, partners, mode="append")
    batch = ds.__getitems__(list(range(12)))
    assert batch.views.shape == (12, 3, 3, 16, 16)
    drawn = batch.attributes[PARTNER_KEY]
    for i, p in enumerate(drawn.tolist()):
        assert p in [c for c in partners[i].tolist() if c >= 0]
    lonely = torch.full((12, 1), -1)
    assert (PartnerViewDataset(split, lonely, "replace").draw_partners(torch.arange(12))
            == torch.arange(12)).all()  # fmt: skip


def test_index_mode_refuses_views_of_the_same_image():
    method = _method(teacher="label_oracle", neighbours="index")
    from mmcl.data.world_dataset import WorldDataset

    batch = WorldDataset(_tiny_split(), n_views=3).__getitems__(list(range(4)))
    with pytest.raises(MMCLError, match="PartnerViewDataset this method's training_dataset"):
        method.training_forward(batch)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _load_worker():
    spec = importlib.util.spec_from_file_location("mmcl_tests_resampling_worker", WORKER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_ddp_equals_single_process_on_the_global_batch(tmp_path):
    """Two gloo ranks: mean of the rank losses = global loss, DDP grads = global grads, for
    every variant (teacher features gathered) and the dataset-neighbour loss."""
    command = [
        sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc-per-node", "2",
        "--master-addr", "127.0.0.1", "--master-port", str(_free_port()), str(WORKER),
        str(tmp_path),
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in range(2)]
    worker = _load_worker()
    for case in worker.CASES:
        loss, grads = worker.loss_and_grads(case, worker.student(), slice(None))
        assert sum(r[case][0] for r in ranks) / 2 == pytest.approx(loss, abs=1e-10), case
        for r in ranks:
            for name, grad in grads.items():
                torch.testing.assert_close(r[case][1][name], grad, atol=1e-10, rtol=1e-8)


def test_open_clip_teacher_from_a_local_checkpoint(tmp_path):
    """A tiny open_clip architecture registered from a JSON config, weights from a local file."""
    import json

    import open_clip

    from mmcl.methods.teachers import OpenClipTeacher

    config = {
        "embed_dim": 16,
        "vision_cfg": {
            "image_size": 32,
            "layers": 1,
            "width": 32,
            "patch_size": 16,
            "head_width": 16,
        },
        "text_cfg": {"context_length": 8, "vocab_size": 64, "width": 16, "heads": 2, "layers": 1},
    }
    (tmp_path / "mmcl-test-tiny.json").write_text(json.dumps(config))
    open_clip.add_model_config(tmp_path / "mmcl-test-tiny.json")
    reference = open_clip.create_model("mmcl-test-tiny")
    torch.save(reference.state_dict(), tmp_path / "weights.pt")
    teacher = OpenClipTeacher("mmcl-test-tiny", str(tmp_path / "weights.pt"))
    images = torch.randn(3, 3, 16, 16)  # resized to the tower's 32 px
    features = teacher.embed(images, torch.zeros(3, dtype=torch.long))
    assert features.shape == (3, 16)
    raw = images * torch.tensor(OPENAI_STD).view(1, 3, 1, 1) + torch.tensor(OPENAI_MEAN).view(
        1, 3, 1, 1
    )
    mean, std = reference.visual.preprocess_cfg["mean"], reference.visual.preprocess_cfg["std"]
    x = (raw - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
    x = F.interpolate(x, size=(32, 32), mode="bicubic", align_corners=False)
    with torch.no_grad():
        torch.testing.assert_close(features, reference.visual.eval()(x))
    with pytest.raises(MMCLError, match="not a file"):
        OpenClipTeacher("mmcl-test-tiny", str(tmp_path / "missing.pt"))


def test_trained_run_loads_for_eval_without_its_teacher(tiny_overrides, tmp_path):
    from mmcl.config import load_config
    from mmcl.runs.training import load_trained, train
    from mmcl.train.config import RunConfig

    cfg = load_config(RunConfig, None, [
        *tiny_overrides, "name=oracle", "train.steps=2", "method.name=resampled_simclr",
        "method.resampling.teacher=label_oracle", "method.resampling.new_positive_ratio=1",
    ])  # fmt: skip
    method, _ = train(cfg, tmp_path / "oracle")
    assert method._teacher is not None  # loaded at the first step
    _, loaded = load_trained(tmp_path / "oracle")
    assert loaded._teacher is None  # evaluation never builds it
    for key, value in method.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[key], value)
