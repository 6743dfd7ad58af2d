"""Safe by default, for what a user hands over and what a run folder holds: checkpoints that
cannot run code, run names that stay inside out_dir, a finished run that is never replaced
without `--overwrite`, and configs whose aliases cannot explode.

Each kind of bad input is built here, in a tmp folder, and must end in exit 2 with one line
naming the file, key or flag, and nothing of the user's changed.
"""

from __future__ import annotations

import hashlib
import pickle
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from mmcl.cli import main
from mmcl.config import MAX_YAML_VALUES, load_config, read_yaml
from mmcl.errors import MMCLError
from mmcl.tensor_files import read_tensor_file
from mmcl.train import checkpoint as ckpt
from mmcl.train.config import RunConfig
from mmcl.train.run_folder import LOCK_NAME, remove_stale_temporaries

from ..train.runs import write_config

PWNED = "mmcl-test-pwned"


class _RunsCode:
    """A pickle that calls a function when loaded: what a crafted checkpoint does."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (self.marker, PWNED))


def _crafted(path: Path, marker: Path, payload: dict | None = None) -> Path:
    torch.save({**(payload or {}), "state": {}, "evil": _RunsCode(marker)}, path)
    return path


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "Traceback" not in err, err
    return err


def _digests(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != LOCK_NAME
    }


@pytest.fixture(scope="module")
def finished(tmp_path_factory, world_cache) -> tuple[Path, Path]:
    """A finished tiny CLIP run (checkpoints, metrics, results, report) and its config."""
    from ..conftest import TINY

    root = tmp_path_factory.mktemp("safety")
    config = write_config(
        root / "c.yaml",
        [*TINY, f"data.cache_dir={world_cache}", f"out_dir={root}", "name=done"],
    )
    assert main(["train", str(config), "eval.tasks=[zeroshot]"]) == 0
    return root / "done", config


# ---- checkpoints cannot run code ---------------------------------------------------------


@pytest.mark.parametrize("where", ["latest", "only", "pretrained"])
def test_a_crafted_pickle_is_refused_and_never_runs(where, finished, tmp_path, capsys):
    run, _ = finished
    marker = tmp_path / "marker"
    if where == "pretrained":
        bad = _crafted(tmp_path / "weights.pt", marker)
        data = _image_folder(tmp_path / "images")
        args = ["--model", "ViT-B-32", "--pretrained", str(bad), "--data", f"id={data}"]
        code = main(["eval", *args, "--out", str(tmp_path / "out")])
    else:
        copy = Path(shutil.copytree(run, tmp_path / "run"))
        checkpoints = sorted((copy / "checkpoints").glob("step_*.pt"))
        if where == "only":
            for path in checkpoints[:-1]:
                path.unlink()
        payload = torch.load(checkpoints[-1], weights_only=True)
        _crafted(checkpoints[-1], marker, payload)
        code = main(["eval", str(copy), "--tasks", "zeroshot"])
    err = capsys.readouterr().err
    assert not marker.exists(), "the crafted checkpoint ran code"
    if where == "latest":  # an older intact checkpoint remains: scored, with the refusal logged
        return
    assert code == 2 and "Traceback" not in err
    assert "holds Python objects" in err and "refuses" in err


def _image_folder(root: Path) -> Path:
    """Two classes of one 8x8 PNG each: the smallest ImageFolder an eval accepts."""
    from PIL import Image

    for name in ("cat", "dog"):
        (root / name).mkdir(parents=True)
        Image.new("RGB", (8, 8), (200, 10, 10)).save(root / name / "0.png")
    return root


def test_reader_refuses_objects_and_names_them(tmp_path):
    marker = tmp_path / "marker"
    path = _crafted(tmp_path / "x.pt", marker)
    with pytest.raises(MMCLError, match=r"x\.pt holds Python objects.*pathlib"):
        read_tensor_file(path, "checkpoint")
    assert not marker.exists()


@pytest.mark.parametrize(
    "content",
    [b"", b"not a torch file", b"PK\x03\x04" + b"\0" * 64, pickle.dumps([1, 2, 3])[:5]],
    ids=["empty", "text", "zip-header", "cut-pickle"],
)
def test_unreadable_torch_files_name_themselves(content, tmp_path):
    path = tmp_path / "bad.pt"
    path.write_bytes(content)
    with pytest.raises(MMCLError, match=r"checkpoint .*bad\.pt cannot be read"):
        read_tensor_file(path, "checkpoint")


def test_checkpoints_hold_only_tensors_and_plain_types(finished):
    run, _ = finished
    for path in (run / "checkpoints").glob("step_*.pt"):
        assert not torch.serialization.get_unsafe_globals_in_checkpoint(path)
        assert torch.load(path, weights_only=True)["format"] == ckpt.FORMAT


def test_format_1_checkpoints_with_numpy_rng_still_load(finished, tmp_path):
    """A checkpoint written before format 2 (NumPy's RNG state as an array) reads safely and
    restores the same RNG state."""
    run, _ = finished
    payload = torch.load(ckpt.latest_checkpoint(run / "checkpoints"), weights_only=True)
    np.random.seed(7)
    legacy = {**payload, "rng": {**payload["rng"], "numpy": np.random.get_state()}}
    del legacy["format"]
    path = tmp_path / "step_0000006.pt"
    torch.save(legacy, path)
    expected = np.random.rand(3)
    loaded = ckpt.load_checkpoint(path)
    np.random.seed(0)
    ckpt.restore_rng_states(loaded["rng"])
    assert np.array_equal(np.random.rand(3), expected)


def test_rng_state_round_trips_through_a_checkpoint(tmp_path):
    np.random.seed(3)
    np.random.rand(5)
    states = ckpt.rng_states()
    torch.save(states, tmp_path / "rng.pt")
    expected = np.random.rand(4)
    ckpt.restore_rng_states(read_tensor_file(tmp_path / "rng.pt", "checkpoint"))
    assert np.array_equal(np.random.rand(4), expected)


def test_a_newer_format_is_refused_with_the_fix(finished, tmp_path):
    run, _ = finished
    payload = torch.load(ckpt.latest_checkpoint(run / "checkpoints"), weights_only=True)
    torch.save({**payload, "format": ckpt.FORMAT + 1}, tmp_path / "new.pt")
    with pytest.raises(MMCLError, match="newer than this mmcl reads.*upgrade mmcl"):
        ckpt.load_checkpoint(tmp_path / "new.pt")


# ---- run names and finished runs ------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["..", ".", "", " ", "../../x", "a/b", "/abs", "a\\b", "x" * 256], ids=repr
)
def test_run_names_are_one_folder(name, tmp_path):
    with pytest.raises(MMCLError, match="config key 'name'.*one folder name"):
        load_config(RunConfig, None, [f"name={name}", f"out_dir={tmp_path}"])


@pytest.mark.parametrize("name", ["..", "", "../../x"], ids=repr)
def test_train_with_a_bad_name_writes_nothing(name, tmp_path, capsys):
    out = tmp_path / "a" / "b" / "out"
    out.mkdir(parents=True)
    (out / "config.yaml").write_text("keep: me\n")
    config = write_config(tmp_path / "c.yaml", ["train.steps=1"])
    before = _digests(tmp_path)
    assert main(["train", str(config), f"out_dir={out}", f"name={name}"]) == 2
    assert "one folder name" in _one_line_error(capsys)
    assert _digests(tmp_path) == before


def test_a_finished_run_is_not_replaced_without_overwrite(finished, capsys):
    run, config = finished
    before = _digests(run)
    assert main(["train", str(config), "eval.tasks=[zeroshot]"]) == 2
    err = _one_line_error(capsys)
    assert "already holds a run" in err and "--overwrite" in err and "--resume" in err
    assert _digests(run) == before


def test_overwrite_replaces_the_run_and_only_its_files(finished, tmp_path, capsys):
    run, config = finished
    copy = Path(shutil.copytree(run, tmp_path / "done"))
    (copy / "notes.txt").write_text("mine")
    (copy / "checkpoints" / "step_0000999.pt").write_bytes(b"old timeline")
    code = main(["train", str(config), f"out_dir={tmp_path}", "--overwrite", "--no-eval"])
    assert code == 0
    assert (copy / "notes.txt").read_text() == "mine"
    assert not (copy / "results.json").exists() and not (copy / "report.html").exists()
    assert not (copy / "checkpoints" / "step_0000999.pt").exists()
    assert (copy / "checkpoints" / "latest").is_file()


def test_resume_and_overwrite_together_are_refused(finished, capsys):
    run, _ = finished
    assert main(["train", "--resume", str(run), "--overwrite"]) == 2
    assert "give one" in _one_line_error(capsys)


def test_the_stale_temporary_sweep_keeps_strangers_files(tmp_path):
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    ours = [run / ".results.json.ab12cd34.tmp", run / "checkpoints" / ".step_0000003.pt.x.tmp"]
    theirs = [run / ".notes.txt.zz99zz99.tmp", run / "data" / ".shard.tar.q1w2e3r4.tmp"]
    for path in ours + theirs:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    assert sorted(remove_stale_temporaries(run)) == sorted(ours)
    assert all(p.exists() for p in theirs)


# ---- configs: aliases, tags, values -----------------------------------------------------------


def _bomb(levels: int = 9) -> str:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, levels + 1):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def test_the_alias_bomb_is_refused_at_once(tmp_path, capsys):
    config = tmp_path / "bomb.yaml"
    config.write_text(_bomb())
    assert len(config.read_bytes()) < 1200
    start = time.perf_counter()
    assert main(["train", str(config)]) == 2
    assert time.perf_counter() - start < 10
    assert "aliases expand" in _one_line_error(capsys)


def test_modest_aliases_are_still_fine():
    data = read_yaml("base: &b {lr: 0.1, steps: 3}\nrun: *b\n", "x.yaml")
    assert data["run"] == {"lr": 0.1, "steps": 3}
    assert MAX_YAML_VALUES >= 10_000


@pytest.mark.parametrize(
    "text",
    [
        "train: !!python/object/apply:os.system ['true']\n",
        "train: !!binary aGVsbG8=\n",
        "train: !custom {steps: 3}\n",
        "name: !!str run\n",
        "train: !!set {a, b}\n",
    ],
    ids=["python", "binary", "custom", "str", "set"],
)
def test_yaml_tags_are_refused(text, tmp_path, capsys):
    config = tmp_path / "tagged.yaml"
    config.write_text(text)
    assert main(["train", str(config)]) == 2
    assert "YAML tag" in _one_line_error(capsys)


@pytest.mark.parametrize(
    "override, key",
    [
        ("train.seed=-1", "train.seed"),
        (f"train.seed={2**32}", "train.seed"),
        (f"train.steps={10**40}", "train.steps"),
        ("train.steps=1e400", "train.steps"),
        ("train.lr=nan", "train.lr"),
        ("method.resampling.teacher_seed=-3", "method.resampling.teacher_seed"),
        ("train.batch_size=1", "train.batch_size"),
        ("data.shapes.spurious_strength=1.5", "data.shapes.spurious_strength"),
    ],
)
def test_values_are_range_checked_before_anything_runs(override, key, tmp_path, capsys):
    config = write_config(tmp_path / "c.yaml", ["train.steps=1"])
    out = tmp_path / "out"
    assert main(["train", str(config), override, f"out_dir={out}"]) == 2
    err = _one_line_error(capsys)
    assert key in err
    assert not out.exists()


def test_a_config_that_is_a_folder_says_so(tmp_path, capsys):
    assert main(["train", str(tmp_path)]) == 2
    assert "is a folder" in _one_line_error(capsys)
