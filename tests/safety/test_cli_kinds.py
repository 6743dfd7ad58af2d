"""No command ends in a traceback (issue 26, item 5): every subcommand's bad output paths and bad
values are "kinds", each ending in exit 2, one line on stderr naming the flag or path and the
fix, and nothing written.

Each kind fails before any training, rendering or scoring (that is what is tested: the checks
come before compute), so no case needs a trained run: a folder that looks like one is enough,
and the whole file runs in seconds. Read-only places need a mount the test can make
(`unshare -rm`, a bind mount remounted read-only); as root, chmod would not stop a write.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mmcl.cli import main
from mmcl.eval.tasks import make_record, write_results

# A message says the fix when it says what to give: one of these, or the valid values.
FIX_WORDS = ("give", "choose", "write", "did you mean", "run `mmcl", "allowed", "expected",
             "must", "needs", "e.g.")  # fmt: skip


@pytest.fixture(scope="module")
def place(tmp_path_factory) -> Path:
    """A folder holding what the kinds point at: a file, a folder, results, tables, images."""
    root = tmp_path_factory.mktemp("kinds")
    (root / "file").write_text("not a folder\n")
    (root / "dir").mkdir()
    (root / "shapes_id.png").mkdir()  # in the way of `data inspect shapes --split id`
    (root / "images" / "cat").mkdir(parents=True)
    (root / "run" / "checkpoints").mkdir(parents=True)  # looks like a run folder
    (root / "run" / "config.yaml").write_text("name: run\n")
    (root / "config.yaml").write_text("name: tiny\n")
    records = [
        make_record(model, "zeroshot", "imagenet", split, 500, "accuracy", value)
        for model, id_acc in (("a", 0.6), ("b", 0.7), ("c", 0.8))
        for split, value in (("imagenet", id_acc), ("imagenet_v2", id_acc - 0.1))
    ]
    write_results(root / "run" / "results.json", {"model": "m", "pretrained": "p"}, records)
    rows = "name,id,ood\nA,0.5,0.4\nB,0.6,0.45\nC,0.7,0.5\nD,0.8,0.6\n"
    (root / "table.csv").write_text(rows)
    (root / "base.csv").write_text(rows.replace("A,", "X,"))
    (root / "text.csv").write_text(rows.replace("0.45", "n/a"))
    (root / "nan.csv").write_text(rows.replace("0.45", "nan"))
    return root


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Every path under `root` with its size and modification time."""
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*")}


def run_cli(argv: list[str], capsys) -> tuple[int, str]:
    """Exit code and stderr of `mmcl ARGV`, in process (argparse errors raise SystemExit)."""
    try:
        code = main(argv)
    except SystemExit as stop:
        code = stop.code
    return code, capsys.readouterr().err


def assert_one_clear_line(code: int, err: str, named: list[str]) -> None:
    """Exit 2; one line, no traceback; it names every one of `named` and says a fix."""
    assert code == 2, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    for text in named:
        assert text in err, f"{text!r} not named in {err!r}"
    assert any(word in err for word in FIX_WORDS), f"no fix said in {err!r}"


ROBUSTNESS = ["robustness", "--table", "{place}/table.csv", "--baseline-table",
              "{place}/base.csv", "--id", "id", "--ood", "ood", "--bootstrap", "0"]  # fmt: skip
EVAL = ["eval", "--model", "RN50", "--data", "imagenet={place}/images"]
INSPECT = ["data", "inspect", "shapes"]
MAKE = ["data", "make", "shapes", "--format", "csv"]
EXPORT = ["results", "export", "{place}/run/results.json"]
REPRO = ["repro", "xue2024"]
SWEEP = ["sweep", "{place}/config.yaml", "train.steps=1,2"]

# (id, argv, what the message must name); {place} is the fixture's folder.
WRITE_KINDS = [
    ("report-out-folder", ["report", "{place}/run", "--out", "{place}/dir"], ["--out", "/dir"]),
    ("report-out-under-file", ["report", "{place}/run", "--out", "{place}/file/r.html"],
     ["--out", "/file"]),
    ("report-out-empty", ["report", "{place}/run", "--out", ""], ["--out"]),
    ("report-out-nul-byte", ["report", "{place}/run", "--out", "{place}/r\0.html"],
     ["--out", "null byte"]),
    ("report-out-name-too-long", ["report", "{place}/run", "--out", "{place}/" + "r" * 300],
     ["--out", "too long"]),
    ("robustness-out-file", [*ROBUSTNESS, "--out", "{place}/file"], ["--out", "/file"]),
    ("robustness-out-under-file", [*ROBUSTNESS, "--out", "{place}/file/r"], ["--out", "/file"]),
    ("robustness-out-empty", [*ROBUSTNESS, "--out", ""], ["--out"]),
    ("results-export-out-file", [*EXPORT, "--out", "{place}/file"], ["--out", "/file"]),
    ("results-export-out-under-file", [*EXPORT, "--out", "{place}/file/cb"], ["--out", "/file"]),
    ("results-export-out-empty", [*EXPORT, "--out", ""], ["--out"]),
    ("data-make-out-file", [*MAKE, "--out", "{place}/file"], ["--out", "/file"]),
    ("data-make-out-under-file", [*MAKE, "--out", "{place}/file/d"], ["--out", "/file"]),
    ("data-make-out-empty", [*MAKE, "--out", ""], ["--out"]),
    ("data-inspect-out-folder", [*INSPECT, "--out", "{place}/dir"], ["--out", "/dir"]),
    ("data-inspect-out-under-file", [*INSPECT, "--out", "{place}/file/g.png"],
     ["--out", "/file"]),
    ("data-inspect-out-empty", [*INSPECT, "--out", ""], ["--out"]),
    ("data-inspect-default-out-folder", [*INSPECT, "--split", "id"], ["--out", "shapes_id.png"]),
    ("eval-out-file", [*EVAL, "--out", "{place}/file"], ["--out", "/file"]),
    ("eval-out-under-file", [*EVAL, "--out", "{place}/file/e"], ["--out", "/file"]),
    ("export-out-file", ["export", "{place}/run", "--out", "{place}/file"], ["--out", "/file"]),
    ("export-out-under-file", ["export", "{place}/run", "--out", "{place}/file/x"],
     ["--out", "/file"]),
    ("sweep-out-file", [*SWEEP, "--out", "{place}/file"], ["--out", "/file"]),
    ("sweep-out-under-file", [*SWEEP, "--out", "{place}/file/s"], ["--out", "/file"]),
    ("demo-out-file", ["demo", "--out", "{place}/file"], ["--out", "/file"]),
    ("demo-out-under-file", ["demo", "--out", "{place}/file/d"], ["--out", "/file"]),
    ("repro-out-file", [*REPRO, "--out", "{place}/file"], ["--out", "/file"]),
    ("repro-out-under-file", [*REPRO, "--out", "{place}/file/r"], ["--out", "/file"]),
    ("testbed-csv-folder", ["testbed", "shapes", "--csv", "{place}/dir"], ["--csv", "/dir"]),
    ("testbed-csv-under-file", ["testbed", "shapes", "--csv", "{place}/file/t.csv"],
     ["--csv", "/file"]),
    ("testbed-cache-file", ["testbed", "shapes", "--cache", "{place}/file"], ["--cache", "/file"]),
    ("testbed-cache-under-file", ["testbed", "shapes", "--cache", "{place}/file/c"],
     ["--cache", "/file"]),
]  # fmt: skip

VALUE_KINDS = [
    ("robustness-bootstrap-negative", [*ROBUSTNESS, "--bootstrap", "-5"], ["--bootstrap"]),
    ("robustness-bootstrap-huge", [*ROBUSTNESS, "--bootstrap", "9" * 40], ["--bootstrap"]),
    ("robustness-bootstrap-text", [*ROBUSTNESS, "--bootstrap", "many"], ["--bootstrap"]),
    ("robustness-seed-negative", [*ROBUSTNESS, "--seed", "-1"], ["--seed"]),
    ("robustness-seed-huge", [*ROBUSTNESS, "--seed", "9" * 30], ["--seed"]),
    ("robustness-eps-2", [*ROBUSTNESS, "--eps", "2"], ["--eps"]),
    ("robustness-eps-0", [*ROBUSTNESS, "--eps", "0"], ["--eps"]),
    ("robustness-eps-nan", [*ROBUSTNESS, "--eps", "nan"], ["--eps"]),
    ("robustness-eps-text", [*ROBUSTNESS, "--eps", "tiny"], ["--eps"]),
    ("robustness-ood-empty", [*ROBUSTNESS, "--ood", ""], ["--ood"]),
    ("robustness-ood-commas", [*ROBUSTNESS, "--ood", " , "], ["--ood"]),
    ("robustness-ood-unknown", [*ROBUSTNESS, "--ood", "oops"], ["--id/--ood", "oops"]),
    ("robustness-id-unknown", [*ROBUSTNESS, "--id", "idd"], ["--id/--ood", "idd"]),
    ("robustness-transform", [*ROBUSTNESS, "--transform", "log"], ["--transform"]),
    ("robustness-degenerate", [*ROBUSTNESS, "--degenerate", "drop?"], ["--degenerate"]),
    ("robustness-text-cell", ["robustness", "--table", "{place}/text.csv", "--baseline-table",
     "{place}/base.csv", "--id", "id", "--ood", "ood"], ["text.csv", "line 3", "'ood'"]),
    ("robustness-nan-cell", ["robustness", "--table", "{place}/nan.csv", "--baseline-table",
     "{place}/base.csv", "--id", "id", "--ood", "ood"], ["nan.csv", "line 3", "'ood'"]),
    ("robustness-table-missing", ["robustness", "--table", "{place}/none.csv", "--id", "id",
     "--ood", "ood"], ["--table", "none.csv"]),
    ("data-inspect-n-0", [*INSPECT, "--n", "0"], ["--n"]),
    ("data-inspect-n-negative", [*INSPECT, "--n", "-1"], ["--n"]),
    ("data-inspect-n-huge", [*INSPECT, "--n", "1" + "0" * 30], ["--n"]),
    ("data-inspect-n-float", [*INSPECT, "--n", "1e3"], ["--n"]),
    ("data-make-shard-size-0", [*MAKE, "--out", "{place}/m", "--shard-size", "0"],
     ["--shard-size"]),
    ("data-make-shard-size-negative", [*MAKE, "--out", "{place}/m", "--shard-size", "-3"],
     ["--shard-size"]),
    ("data-make-splits-empty", [*MAKE, "--out", "{place}/m", "--splits", ""], ["--splits"]),
    ("data-make-format", ["data", "make", "shapes", "--out", "{place}/m", "--format", "zip"],
     ["--format", "zip"]),
    ("data-make-image-format", [*MAKE, "--out", "{place}/m", "--image-format", "gif"],
     ["--image-format"]),
    ("eval-image-size-negative", [*EVAL, "--image-size", "-1"], ["--image-size"]),
    ("eval-image-size-4", [*EVAL, "--image-size", "4"], ["--image-size"]),
    ("eval-image-size-huge", [*EVAL, "--image-size", "9" * 25], ["--image-size"]),
    ("eval-workers-negative", [*EVAL, "--workers", "-1"], ["--workers"]),
    ("eval-workers-huge", [*EVAL, "--workers", "999"], ["--workers"]),
    ("eval-shifts-missing-folder", [*EVAL, "--shifts", "v2={place}/nope"], ["--shifts", "nope"]),
    ("eval-data-missing-folder", ["eval", "--model", "RN50", "--data", "in={place}/nope"],
     ["--data", "nope"]),
    ("eval-data-is-a-file", ["eval", "--model", "RN50", "--data", "in={place}/file"],
     ["--data", "/file"]),
    ("eval-train-missing-folder", [*EVAL, "--train", "{place}/nope"], ["--train", "nope"]),
    ("eval-shifts-malformed", [*EVAL, "--shifts", "v2"], ["--shifts", "v2"]),
    ("eval-robustness-without-shifts", [*EVAL, "--robustness"], ["--robustness", "--shifts"]),
    ("eval-baseline-table-missing", [*EVAL, "--shifts", "v2={place}/images", "--robustness",
     "--baseline-table", "{place}/none.csv"], ["--baseline-table", "none.csv"]),
    ("eval-tasks-unknown", ["eval", "{place}/run", "--tasks", "zeroshoot"], ["--tasks"]),
    ("eval-checkpoint-choice", ["eval", "{place}/run", "--checkpoint", "first"],
     ["--checkpoint"]),
    ("sweep-jobs-0", [*SWEEP, "--jobs", "0"], ["--jobs"]),
    ("sweep-jobs-negative", [*SWEEP, "--jobs", "-2"], ["--jobs"]),
    ("sweep-jobs-huge", [*SWEEP, "--jobs", "9" * 20], ["--jobs"]),
    ("sweep-config-folder", ["sweep", "{place}/dir", "train.steps=1,2", "--out", "{place}/s"],
     ["/dir"]),
    ("demo-jobs-0", ["demo", "--jobs", "0"], ["--jobs"]),
    ("demo-jobs-text", ["demo", "--jobs", "two"], ["--jobs"]),
    ("testbed-jobs-0", ["testbed", "shapes", "--jobs", "0"], ["--jobs"]),
    ("testbed-bootstrap-negative", ["testbed", "shapes", "--bootstrap", "-5"], ["--bootstrap"]),
    ("testbed-scale", ["testbed", "shapes", "--scale", "huge"], ["--scale", "huge"]),
    ("testbed-world", ["testbed", "circles"], ["world", "circles"]),
    ("repro-set-typo", [*REPRO, "--set", "train.stepz=3"], ["--set", "train.stepz"]),
    ("repro-set-out-of-range", [*REPRO, "--set", "train.steps=-1"], ["--set", "train.steps"]),
    ("repro-set-not-key-value", [*REPRO, "--set", "train.steps"], ["--set", "train.steps"]),
    ("repro-set-bad-type", [*REPRO, "--set", "train.lr=fast"], ["--set", "train.lr"]),
    ("repro-seeds-0", [*REPRO, "--seeds", "0"], ["--seeds"]),
    ("repro-budget-text", [*REPRO, "--seeds", "auto", "--budget", "soon"], ["--budget"]),
    ("repro-scale", [*REPRO, "--scale", "huge"], ["--scale"]),
    ("repro-unknown-paper", ["repro", "xue2023"], ["xue2023"]),
    ("train-config-folder", ["train", "{place}/dir"], ["/dir"]),
    ("train-key-typo", ["train", "{place}/config.yaml", "train.stepz=3"], ["train.stepz"]),
    ("export-format", ["export", "{place}/run", "--format", "onnx"], ["--format"]),
    ("results-export-format", [*EXPORT, "--format", "csv"], ["--format"]),
    ("results-export-missing", ["results", "export", "{place}/none.json"], ["none.json"]),
    ("report-run-without-results", ["report", "{place}/dir", "--out", "{place}/r.html"],
     ["/dir/results.json"]),
    ("unknown-command", ["trian"], ["trian"]),
]  # fmt: skip


def _argv(argv: list[str], place: Path) -> list[str]:
    return [item.replace("{place}", str(place)) for item in argv]


@pytest.mark.parametrize(
    ("argv", "named"),
    [pytest.param(argv, named, id=kind) for kind, argv, named in WRITE_KINDS + VALUE_KINDS],
)
def test_kind_is_one_clear_line_and_writes_nothing(place, argv, named, capsys, monkeypatch):
    monkeypatch.chdir(place)  # defaults such as runs/... would land here, and be seen
    monkeypatch.setenv("MMCL_CACHE", str(place / "cache"))
    before = snapshot(place)
    code, err = run_cli(_argv(argv, place), capsys)
    assert_one_clear_line(code, err, [text.replace("{place}", str(place)) for text in named])
    assert snapshot(place) == before


@pytest.mark.parametrize("cache", ["file", "file/cache"], ids=["is-a-file", "under-a-file"])
def test_mmcl_cache_that_is_not_a_folder_is_named(place, cache, capsys, monkeypatch):
    monkeypatch.setenv("MMCL_CACHE", str(place / cache))
    before = snapshot(place)
    code, err = run_cli([*INSPECT, "--out", str(place / "g.png")], capsys)
    assert_one_clear_line(code, err, ["MMCL_CACHE", str(place / "file")])
    assert snapshot(place) == before


# Each writes into RO, a bind mount made read-only; (id, argv, what the message must name).
READ_ONLY_KINDS = [
    ("eval-run-folder", ["eval", "{ro}/run"], ["RUN", "/run", "read-only"]),
    ("report-out", ["report", "{ro}/run", "--out", "{ro}/r.html"], ["--out", "read-only"]),
    ("robustness-out", [*ROBUSTNESS, "--out", "{ro}/rob"], ["--out", "read-only"]),
    ("results-export-out", ["results", "export", "{ro}/run/results.json", "--out", "{ro}/cb"],
     ["--out", "read-only"]),
    ("data-make-out", [*MAKE, "--out", "{ro}/made"], ["--out", "read-only"]),
    ("data-inspect-out", [*INSPECT, "--out", "{ro}/g.png"], ["--out", "read-only"]),
    ("eval-out", [*EVAL, "--out", "{ro}/e"], ["--out", "read-only"]),
    ("export-out", ["export", "{ro}/run", "--out", "{ro}/x"], ["--out", "read-only"]),
    ("sweep-out", [*SWEEP, "--out", "{ro}/s"], ["--out", "read-only"]),
    ("demo-out", ["demo", "--out", "{ro}/d"], ["--out", "read-only"]),
    ("repro-out", [*REPRO, "--out", "{ro}/r"], ["--out", "read-only"]),
    ("testbed-csv", ["testbed", "shapes", "--csv", "{ro}/t.csv"], ["--csv", "read-only"]),
]  # fmt: skip

READ_ONLY_SCRIPT = """
import contextlib, io, json, sys
from mmcl.cli import main
out = {}
for kind, argv in json.loads(sys.argv[1]).items():
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main(argv)
        except SystemExit as stop:
            code = stop.code
    out[kind] = [code, err.getvalue()]
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def read_only_results(place, tmp_path_factory) -> tuple[dict[str, list], bool]:
    """Every read-only kind run in one process inside a user and mount namespace where RO is
    a read-only bind mount (one interpreter start for all), and whether RO was left as it was."""
    if shutil.which("unshare") is None:
        pytest.skip("needs unshare(1) to make a read-only mount")
    probe = subprocess.run(["unshare", "-rm", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"cannot make a user+mount namespace here: {probe.stderr.decode().strip()}")
    ro = tmp_path_factory.mktemp("ro")
    shutil.copytree(place / "run", ro / "run")
    kinds = {
        kind: [item.replace("{ro}", str(ro)) for item in _argv(argv, place)]
        for kind, argv, _ in READ_ONLY_KINDS
    }
    mount = f'mount --bind {ro} {ro} && mount -o remount,bind,ro {ro} && exec "$@"'
    before = snapshot(ro)
    done = subprocess.run(
        [
            "unshare",
            "-rm",
            "sh",
            "-c",
            mount,
            "sh",
            sys.executable,
            "-c",
            READ_ONLY_SCRIPT,
            json.dumps(kinds),
        ],  # fmt: skip
        capture_output=True,
        text=True,
        cwd=place,
        env={**os.environ, "MMCL_CACHE": str(place / "cache")},
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1]), snapshot(ro) == before


@pytest.mark.parametrize(
    ("kind", "named"), [pytest.param(kind, named, id=kind) for kind, _, named in READ_ONLY_KINDS]
)
def test_read_only_place_is_one_clear_line(read_only_results, kind, named):
    results, untouched = read_only_results
    code, err = results[kind]
    assert_one_clear_line(code, err, named)
    assert untouched
