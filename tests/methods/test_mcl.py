"""MCL: group accumulation, cluster-homogeneous batches, group-restricted negatives, stages."""

from __future__ import annotations

import importlib.util
import itertools
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mmcl.config import load_config
from mmcl.data.batch import Batch
from mmcl.data.cluster_sampler import ClusterBatchSampler
from mmcl.data.clusters import accumulate_groups, kmeans
from mmcl.eval.suite import evaluate_model
from mmcl.losses import ClipLoss, NTXentLoss
from mmcl.methods import DataInfo, MethodConfig, build_method, total_loss
from mmcl.methods.mcl import MCL, build_base
from mmcl.models import ModelConfig, Tokenizer
from mmcl.models.multistage import MultiStageModel
from mmcl.runs.scoring import eval_data
from mmcl.runs.training import load_trained, train
from mmcl.train import checkpoint as ckpt
from mmcl.train.config import RunConfig
from mmcl.train.stages import _resume_view, read_clusters, stage_config, stage_dir

TINY_MODEL = ModelConfig(width=4, text_width=32, text_layers=1, text_heads=2, embed_dim=16)


# ---- group accumulation -------------------------------------------------------------------------
def test_accumulated_groups_are_the_product_of_earlier_partitions():
    rng = np.random.default_rng(0)
    s1, s2 = rng.integers(0, 3, 200), rng.integers(0, 3, 200)
    correct = accumulate_groups([s1, s2], k=3)
    latest = accumulate_groups([s1, s2], k=3, latest_only=True)
    for i, j in itertools.combinations(range(200), 2):
        assert (correct[i] == correct[j]) == (s1[i] == s1[j] and s2[i] == s2[j])
        assert (latest[i] == latest[j]) == (s2[i] == s2[j])
    assert set(correct) == set(range(len(set(zip(s1, s2, strict=True)))))  # dense ids


def test_kmeans_backends_recover_separated_clusters():
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 4, 400)
    centres = 10 * np.eye(8)[:4]
    x = (centres[truth] + rng.normal(size=(400, 8))).astype(np.float32)
    for backend in ("sklearn", "faiss"):
        pytest.importorskip(backend)
        labels = kmeans(x, 4, seed=0, backend=backend).labels
        pairs = np.equal.outer(labels, labels) == np.equal.outer(truth, truth)
        assert pairs.all(), backend


# ---- the cluster-homogeneous sampler ------------------------------------------------------------
def _ranks(groups, batch, world, small_groups="drop", epoch=0):
    samplers = [ClusterBatchSampler(groups, batch, 7, r, world, small_groups) for r in range(world)]
    for s in samplers:
        s.set_position(epoch, 0)
    return samplers, [list(s) for s in samplers]


def test_sampler_two_ranks_share_one_group_per_step_and_never_overlap():
    rng = np.random.default_rng(1)
    groups = rng.choice(5, 300, p=[0.4, 0.3, 0.2, 0.07, 0.03])
    samplers, per_rank = _ranks(groups, batch=16, world=2)
    sizes = np.bincount(groups)
    assert len(samplers[0]) == sum(n // 16 for n in sizes) == len(per_rank[0]) == len(per_rank[1])
    seen = []
    for local0, local1 in zip(*per_rank, strict=True):
        assert len(local0) == len(local1) == 8
        assert len(set(groups[local0 + local1])) == 1  # the whole global batch: one group
        seen += local0 + local1
    assert len(seen) == len(set(seen))  # no sample twice in an epoch, across ranks
    small = [g for g, n in enumerate(sizes) if n < 16]
    assert small and not set(groups[seen]) & set(small)  # groups smaller than W*B never appear


def test_sampler_pools_leftovers_and_one_group_is_plain_shuffled_batching():
    groups = np.zeros(100, dtype=np.int64)
    _, (batches,) = _ranks(groups, batch=16, world=1)
    flat = sum(batches, [])
    assert len(batches) == 6 and len(set(flat)) == 96 and flat != sorted(flat)
    mixed = np.repeat(np.arange(4), [40, 30, 20, 10])
    sampler, (pooled,) = _ranks(mixed, batch=16, world=1, small_groups="pool")
    homogeneous = sum(n // 16 for n in (40, 30, 20, 10))
    assert len(pooled) == len(sampler[0]) == homogeneous + (100 - 16 * homogeneous) // 16
    assert all(len(set(mixed[b])) == 1 for b in pooled[:homogeneous])
    assert len(set(sum(pooled, []))) == 16 * len(pooled)


def test_sampler_resumes_mid_epoch_and_reshuffles_per_epoch():
    groups = np.random.default_rng(2).integers(0, 3, 200)
    _, (full,) = _ranks(groups, 16, 1, epoch=3)
    sampler = ClusterBatchSampler(groups, 16, 7, small_groups="drop")
    sampler.set_position(3, 4)
    assert list(sampler) == full[4:]
    _, (other,) = _ranks(groups, 16, 1, epoch=4)
    assert other != full


# ---- restricted negatives -----------------------------------------------------------------------
def _naive_ntxent(z1, z2, groups, tau):
    z = F.normalize(torch.cat([z1, z2]), dim=-1)
    g, n = groups.repeat(2), len(z1)
    losses = []
    for i in range(2 * n):
        partner = (i + n) % (2 * n)
        pos = torch.exp(z[i] @ z[partner] / tau)
        negs = [
            torch.exp(z[i] @ z[j] / tau)
            for j in range(2 * n)
            if j not in (i, partner) and g[j] == g[i]
        ]
        losses.append(-torch.log(pos / (pos + sum(negs, torch.tensor(0.0)))))
    return torch.stack(losses).mean()


def _naive_clip(img, txt, scale, groups):
    losses = []
    for a, b in ((img, txt), (txt, img)):
        for i in range(len(a)):
            keys = [j for j in range(len(b)) if j == i or groups[j] == groups[i]]
            logits = torch.stack([scale * a[i] @ b[j] for j in keys])
            losses.append(-(logits[keys.index(i)] - torch.logsumexp(logits, 0)) / 2)
    return torch.stack(losses).sum() / len(img)


def _batch(n=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    return Batch(
        images=torch.randn(n, 3, 32, 32, generator=g),
        labels=torch.zeros(n, dtype=torch.long),
        index=torch.arange(n),
        texts=Tokenizer()([f"caption {i}" for i in range(n)]),
        views=torch.randn(n, 2, 3, 32, 32, generator=g),
    )


def _stage(base: str, groups: torch.Tensor | None) -> MCL:
    cfg = MethodConfig(name="mcl")
    cfg.mcl.base = base  # the section held (`MethodConfig.sections`), changed in place
    torch.manual_seed(0)
    return MCL(build_base(cfg, TINY_MODEL, DataInfo(32, 4)), base, groups)


def test_masked_mode_negatives_are_exactly_the_anchor_group_simclr():
    groups = torch.tensor([0, 1, 2, 0, 1, 2, 0, 0, 1, 1, 2, 2])
    stage = _stage("simclr", groups).eval()  # eval: BatchNorm without batch statistics
    batch = _batch()
    loss = stage.training_forward(batch)["ntxent_loss"]
    z = stage.model.encode_image(batch.views.flatten(0, 1), normalize=False).unflatten(0, (12, 2))
    assert torch.allclose(loss, _naive_ntxent(z[:, 0], z[:, 1], groups, 0.2), atol=1e-5)
    unrestricted = NTXentLoss(0.2)(z[:, 0], z[:, 1])
    assert not torch.allclose(loss, unrestricted)


def test_masked_mode_negatives_are_exactly_the_anchor_group_clip():
    groups = torch.tensor([3, 1, 3, 3, 1, 0, 0, 1, 3, 0, 1, 1])
    stage = _stage("clip", groups)
    batch = _batch()
    loss = stage.training_forward(batch)["clip_loss"]
    img, txt = stage.model.encode_image(batch.images), stage.model.encode_text(batch.texts)
    scale = stage.model.scale()
    assert torch.allclose(loss, _naive_clip(img, txt, scale, groups), atol=1e-5)
    one_group = ClipLoss()(img, txt, scale, groups=torch.zeros(12, dtype=torch.long))
    assert torch.allclose(one_group, ClipLoss()(img, txt, scale), atol=1e-6)


@pytest.mark.parametrize("base", ["simclr", "clip"])
def test_homogeneous_batches_make_the_mask_a_no_op(base):
    groups = torch.from_numpy(np.random.default_rng(3).integers(0, 3, 60))
    sampler = ClusterBatchSampler(groups.numpy(), 12, 0, small_groups="drop")
    stage = _stage(base, groups).eval()
    plain = _stage(base, None).eval()
    for step, indices in enumerate(sampler):
        assert len(set(groups[indices].tolist())) == 1  # every negative shares the anchor's group
        if step >= 2:
            continue  # the loss check on the first batches is enough
        batch = _batch(12, seed=indices[0])
        batch.index = torch.tensor(indices)
        restricted, free = stage.training_forward(batch), plain.training_forward(batch)
        name = next(k for k in free if k.endswith("_loss"))
        assert torch.allclose(restricted[name], free[name], atol=1e-6)


def test_registered_mcl_builds_and_backpropagates():
    method = build_method(MethodConfig(name="mcl"), TINY_MODEL, DataInfo(32, 4))
    total_loss(method.training_forward(_batch())).backward()
    assert all(p.grad is not None for p in method.model.image_tower.parameters())


# ---- integration across stages ------------------------------------------------------------------
def _tiny_cfg(overrides, name):
    return load_config(RunConfig, None, [*overrides, f"name={name}"])


MCL_RUN = [
    "method.name=mcl",
    "method.mcl.stages=2",
    "method.mcl.clusters=3",
    "data.shapes.canvas=grey",
    "train.checkpoint_every=3",
]


def test_concatenation_has_summed_width_and_feeds_every_eval_task(tiny_overrides):
    cfg = _tiny_cfg([*tiny_overrides, *MCL_RUN, "method.mcl.base=clip", "eval.mmvp_pairs=2"], "c")
    stages = [_stage("clip", None).model, _stage("simclr", None).model]
    stages[1].text_tower = stages[0].text_tower  # any two image towers; text from a CLIP stage
    model = MultiStageModel(stages).eval()
    images = torch.randn(3, 3, 32, 32)
    widths = [s.image_tower.feature_dim for s in stages]
    embed = [s.encode_image(images).shape[1] for s in stages]
    assert model.backbone_features(images).shape[1] == sum(widths)
    assert model.encode_image(images).shape[1] == model.encode_text(Tokenizer(32)(["a"])).shape[1]
    assert model.encode_image(images).shape[1] == sum(embed)
    tasks = ["zeroshot", "linear_probe", "knn", "retrieval", "attributes", "mmvp"]
    data = eval_data(cfg, tasks)
    data.tests = {"id": data.tests["id"]}
    records = evaluate_model(model, "mcl", data, tasks, Tokenizer(32))
    assert {r["task"] for r in records} == set(tasks)


@pytest.mark.slow
def test_a_trained_run_loads_as_the_concatenation(tiny_overrides, tmp_path):
    cfg = _tiny_cfg([*tiny_overrides, *MCL_RUN, "method.mcl.base=clip"], "c")
    method, _ = train(cfg, tmp_path / "runs" / "c")
    _, loaded = load_trained(tmp_path / "runs" / "c")
    assert isinstance(loaded.model, MultiStageModel) and len(loaded.model.stages) == 2
    images = torch.randn(3, 3, 32, 32)
    same = loaded.model.eval().encode_image(images), method.model.eval().encode_image(images)
    assert torch.allclose(*same, atol=1e-6)


def test_identical_copies_leave_embeddings_and_similarities_unchanged():
    stage = _stage("clip", None).model.eval()
    twice = MultiStageModel([stage, stage]).eval()
    images, tokens = torch.randn(4, 3, 32, 32), Tokenizer(32)(["a", "b", "c", "d"])
    sims = stage.encode_image(images) @ stage.encode_text(tokens).T
    assert torch.allclose(twice.encode_image(images) @ twice.encode_text(tokens).T, sims, atol=1e-5)


def _final_weights(run: Path, k: int) -> dict[str, torch.Tensor]:
    path = ckpt.latest_checkpoint(stage_dir(run, k) / "checkpoints")
    return ckpt.load_checkpoint(path)["method"]


@pytest.mark.slow
def test_resume_mid_stage_skips_finished_stages_and_ends_identically(tiny_overrides, tmp_path):
    cfg = _tiny_cfg([*tiny_overrides, *MCL_RUN], "straight")
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    train(cfg, straight)
    train(cfg, killed)
    # Make `killed` look interrupted at step 3 of stage 2: no clusters, `latest` at step 3.
    (stage_dir(killed, 2) / "clusters.pt").unlink()
    (stage_dir(killed, 2) / "checkpoints" / "latest").write_text("step_0000003.pt\n")
    stage1_clusters = (stage_dir(killed, 1) / "clusters.pt").stat().st_mtime_ns
    train(cfg, killed, resume=True)
    assert (stage_dir(killed, 1) / "clusters.pt").stat().st_mtime_ns == stage1_clusters
    assert np.array_equal(read_clusters(killed, 2), read_clusters(straight, 2))
    a, b = _final_weights(straight, 2), _final_weights(killed, 2)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_every_stage_starts_from_the_initial_weights(tiny_overrides, tmp_path):
    cfg = _tiny_cfg([*tiny_overrides, *MCL_RUN, "train.steps=1", "train.lr=0"], "cold")
    train(cfg, tmp_path / "cold")
    a, b = _final_weights(tmp_path / "cold", 1), _final_weights(tmp_path / "cold", 2)
    conv = next(k for k in a if k.startswith("model.") and a[k].ndim == 4)
    assert torch.equal(a[conv], b[conv])  # lr 0: both equal the shared initial weights


def test_per_stage_normalization_weighs_stages_equally():
    a, b = _stage("clip", None).model.eval(), _stage("simclr", None).model.eval()
    images = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        b.image_projection[-1].weight.mul_(50.0)  # stage b's raw embeddings are much longer
        parts = [F.normalize(m.encode_image(images), dim=-1) for m in (a, b)]
        equal = MultiStageModel([a, b], normalize_per_stage=True).encode_image(images)
        raw = MultiStageModel([a, b]).encode_image(images)
    assert torch.allclose(equal, torch.cat(parts, dim=-1) / 2**0.5, atol=1e-6)
    assert raw[:, :16].norm(dim=-1).max() < 0.2  # by norm, stage a almost vanishes


@pytest.mark.slow
def test_group_masked_clip_loss_under_two_processes_equals_one_process(tmp_path):
    """Mean of the ranks' losses = the global loss; summed shard gradients = global gradients."""
    worker = Path(__file__).with_name("mcl_ddp_worker.py")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    command = [
        *(sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2"),
        *("--master-addr", "127.0.0.1", "--master-port", str(port), str(worker), str(tmp_path)),
    ]
    done = subprocess.run(command, env={**os.environ, "OMP_NUM_THREADS": "1"},
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in range(2)]
    spec = importlib.util.spec_from_file_location("mcl_ddp_worker", worker)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    images, texts, groups = module.global_batch()
    images.requires_grad_(True)
    texts.requires_grad_(True)
    norm = (F.normalize(images, dim=-1), F.normalize(texts, dim=-1))
    loss = ClipLoss()(*norm, torch.tensor(10.0), groups=groups)
    loss.backward()
    assert torch.allclose(sum(r["loss"] for r in ranks) / 2, loss, atol=1e-6)
    # DDP averages parameter gradients over ranks: (1/W) sum_r grad_r == the global gradient.
    for name, grad in (("images", images.grad), ("texts", texts.grad)):
        assert torch.allclose(sum(r[name] for r in ranks) / 2, grad, atol=1e-6)


def test_latest_only_is_ignored_on_resume_only_where_it_cannot_change_the_groups():
    accumulated = _tiny_cfg([*MCL_RUN, "method.mcl.stages=3"], "a")
    latest = _tiny_cfg([*MCL_RUN, "method.mcl.stages=3", "method.mcl.latest_only=true"], "a")
    same = [
        _resume_view(stage_config(accumulated, k), k) == _resume_view(stage_config(latest, k), k)
        for k in (1, 2, 3)
    ]
    assert same == [True, True, False]  # stage 3 is the first with two earlier clusterings
    initial = [*MCL_RUN, "method.mcl.initial_stage=true"]  # stage 0's clusters group stage 1
    a0 = _tiny_cfg(initial, "a")
    l0 = _tiny_cfg([*initial, "method.mcl.latest_only=true"], "a")
    assert _resume_view(stage_config(a0, 1), 1) == _resume_view(stage_config(l0, 1), 1)
    assert _resume_view(stage_config(a0, 2), 2) != _resume_view(stage_config(l0, 2), 2)
