"""zhang2023 on `--set data.world=fashion`: every run follows the user's world, the pair
statistics take the world's own attributes, and test images that repeat a photo are counted as
what they are worth (issue 28). `shapes` figures stay as they were.

Most tests need no dataset (configs, fabricated records, or the session's few idx files,
`fashion_root`); the one marked `needs_dataset` reads Debian's dataset-fashion-mnist and is
skipped, saying so, without it.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from mmcl.config import load_config
from mmcl.data.worlds import fashion_mnist, get_world, load_world
from mmcl.data.worlds.fashion import FashionConfig
from mmcl.eval.tasks import pack_correct
from mmcl.experiments.zhang2023 import claims, grid, probes, report, runner, scales
from mmcl.experiments.zhang2023 import pairs as zhang_pairs
from mmcl.experiments.zhang2023 import resampling as zr
from mmcl.stats import PER_SEED, SHARED
from mmcl.train.config import RunConfig

FASHION_FILES = Path("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")
needs_dataset = pytest.mark.skipif(
    not FASHION_FILES.exists(),
    reason="Debian's dataset-fashion-mnist is not installed (apt-get install "
    "dataset-fashion-mnist, as root)",
)


@pytest.fixture
def own_cache(tmp_path, monkeypatch):
    """Unpacked idx files and rendered splits go to this test's own cache."""
    monkeypatch.setenv("MMCL_CACHE", str(tmp_path / "cache"))
    fashion_mnist.load_part.cache_clear()
    yield
    fashion_mnist.load_part.cache_clear()


# ---- the world reaches every run ------------------------------------------------------------
def test_every_run_of_the_tiny_grid_trains_on_the_users_world(tmp_path):
    """Teacher, SimCLR, resampled variants and the text-positive run all read `data.world` from
    `--set` (it comes last), with the scale's knobs through data.shapes."""
    plan = scales.grid_plan(scales.resolve("tiny"), None, tmp_path, ["data.world=fashion"])
    teacher = plan.overrides(plan.teacher_steps, "method.name=clip", *plan.teacher)
    runs = {"teacher": teacher, "text": [*plan.overrides(plan.steps), "method.name=simclr"]}
    for name in zr.VARIANTS:
        runs[name] = plan.overrides(plan.steps, *zr.variant_overrides(name, tmp_path))
    for name, overrides in runs.items():
        cfg = zr.run_config(name, 1, tmp_path, overrides)
        world = cfg.data.world_config()
        assert cfg.data.world == "fashion" and isinstance(world, FashionConfig), name
        assert (world.seed, world.canvas, world.n_test) == (1, "grey", 16500), name
    assert load_config(RunConfig, None, teacher).data.world_config().caption_preset == "label"


def test_shapes_plan_is_unchanged_without_the_override(tmp_path):
    plan = scales.grid_plan(scales.resolve("tiny"), None, tmp_path)
    cfg = zr.run_config("simclr", 0, tmp_path, plan.overrides(plan.steps, "method.name=simclr"))
    assert cfg.data.world == "shapes" and "data.world=fashion" not in plan.overrides(plan.steps)


def test_nuisance_attributes_follow_the_world():
    shapes, _ = get_world("shapes")
    fashion, _ = get_world("fashion")
    assert zhang_pairs.nuisance_attributes(shapes) == zhang_pairs.NUISANCE  # records' order kept
    assert zhang_pairs.nuisance_attributes(fashion) == ("background", "color")


# ---- test images that repeat a photo --------------------------------------------------------
def test_photo_design_counts_repeats():
    assert probes.photo_design([3, 1, 2]) == {probes.DISTINCT: 3, probes.DESIGN_EFFECT: 1.0}
    twice = probes.photo_design([0, 0, 1])  # photo 0 twice: sum m^2 / n = 5 / 3
    assert twice[probes.DISTINCT] == 2
    assert twice[probes.DESIGN_EFFECT] == pytest.approx(math.sqrt(5 / 3))


def test_a_shared_test_floor_does_not_fall_with_seeds():
    floor = probes.test_floor(0.6, 1.5, 3, test=SHARED)
    assert floor == probes.test_floor(0.6, 1.5, 30, test=SHARED)
    assert floor == math.ceil(0.6 * (1.959964 * 100 / 1.5) ** 2) > 10_000  # Fashion's test photos
    assert probes.test_floor(0.6, 1.5, 3) == probes.test_floor(0.6, 1.5, 3, test=PER_SEED)


def _records(effect: float, tagged: bool, n: int = 2000) -> list[dict]:
    out = []
    for seed in range(3):
        for variant, acc in (("drop_easy_negative", 40.0 + effect), ("simclr", 40.0)):
            for split in ("id", "sketch"):
                correct = np.arange(n) < round(acc * n / 100) + seed
                record = {"task": "linear_probe", "variant": variant, "seed": seed,
                          "split": split, "value": float(correct.mean()), "n_samples": n,
                          "correct": pack_correct(correct), "dataset": "fashion"}  # fmt: skip
                out.append(record)
    if not tagged:
        return out
    prepared = [{"seed": s, "test_photos": {"id": probes.photo_design(np.arange(n) % (n // 2)),
                                            "sketch": probes.photo_design(np.arange(n))}}
                for s in range(3)]  # fmt: skip
    return runner.tag_photos(out, prepared)


def test_repeated_photos_widen_the_test_error_and_the_floor_note_says_so():
    plain, tagged = _records(1.0, tagged=False), _records(1.0, tagged=True)
    assert runner.tag_photos(plain, [{"seed": 0}]) == plain  # shapes: records untouched
    cells, wide = probes.probe_cells(plain), probes.probe_cells(tagged)
    key = ("simclr", 0, "id")
    assert wide[key].se == pytest.approx(cells[key].se * math.sqrt(2))  # every photo twice
    assert wide[("simclr", 0, "sketch")].se == pytest.approx(cells[("simclr", 0, "sketch")].se)
    row = next(r for r in claims.resampling_claims(tagged, test=SHARED)
               if r["id"] == "drop_easy_negative_small")  # fmt: skip
    assert "here 2000 images of 1000 distinct photos, worth at least 1000" in row["ours"]
    assert row["test"] == SHARED


def test_design_is_shared_when_seeds_share_test_photos():
    tiny = scales.resolve("tiny")
    assert scales.test_design(tiny) == PER_SEED
    assert scales.test_design(tiny, [{"seed": 0, "world": "shapes"}]) == PER_SEED
    assert scales.test_design(tiny, [{"seed": 0, "test_photos": {}}]) == SHARED
    assert "same test photos" in runner.note("fashion", SHARED, tiny)
    assert "from the shapes world" in runner.note("shapes", PER_SEED, tiny)


def test_report_names_the_world():
    table = probes.probe_table(_records(1.0, tagged=False))
    assert report.probed_dataset(_records(1.0, tagged=False)) == "fashion"
    assert {r["dataset"] for r in report.summary_records(table, "fashion")} == {"fashion"}
    assert runner.pair_records([], "fashion") == []


# ---- one seed of the grid on a few idx photos -------------------------------------------------
def test_one_seed_prepares_on_the_fashion_world(tiny_overrides, fashion_root, own_cache, tmp_path):
    """Teacher, world, pair statistics and the photos the test splits reuse, on the session's
    60 + 20 idx photos (128 test images: every test photo about 6 times)."""
    base = [*tiny_overrides, "train.steps=2", "data.world=fashion",
            f"data.world_options.root={fashion_root}", "eval.splits=[id,sketch]"]  # fmt: skip
    plan = grid.GridPlan(tuple(base), (0,), tmp_path, ("simclr",), teacher_steps=2, n_pairs=50,
                         jobs=1)  # fmt: skip
    (prepared,) = [grid.prepare_seed(plan, 0)]
    assert prepared["world"] == "fashion" and prepared["n_classes"] == 10
    assert set(prepared["pairs"]["text"]["differs"]) == {"background", "color"}
    photos = prepared["test_photos"]["id"]
    assert photos[probes.DISTINCT] == 20 and photos[probes.DESIGN_EFFECT] > 2.0
    assert 0.0 <= prepared["teacher"]["same_class"] <= 1.0
    assert scales.test_design(scales.resolve("tiny"), [prepared]) == SHARED
    records = runner.pair_records([prepared["pairs"]], prepared["world"])
    assert {r["dataset"] for r in records} == {"fashion"}


@pytest.mark.slow  # renders 10,500 images (about 9 s on the shared 2 cores)
@needs_dataset
def test_tiny_test_splits_repeat_fashions_test_photos(tmp_path):
    """Past 10,000 test images the photos cycle: 10,500 images show all 10,000 photos, 500 of
    them twice (design effect sqrt((500 * 4 + 9,500) / 10,500))."""
    cfg = FashionConfig(n_train=10, n_test=10_500, canvas="grey")
    split = load_world(cfg, "id", tmp_path)
    design = probes.photo_design(split.meta["photos"])
    assert design[probes.DISTINCT] == 10_000
    assert design[probes.DESIGN_EFFECT] == pytest.approx(math.sqrt(11_500 / 10_500))
