"""`mmcl repro`: --json prints only parseable claims, the text table, unknown-paper errors."""

from __future__ import annotations

import json
import logging

import pytest

from mmcl.cli import main, repro
from mmcl.experiments import xue2024

FAKE_CLAIMS = [
    {
        "id": "C1/svd",
        "statement": "s1",
        "paper": "p",
        "ours": "0.9 vs 0.1",
        "held": True,
        "values": {"gap": 0.8},
    },
    {"id": "C4/svd", "statement": "s2", "paper": "p", "ours": "flat", "held": False, "values": {}},
]


@pytest.fixture
def fake_xue(monkeypatch):
    """xue2024.run replaced by a stub that logs (as the real one does) and records its args."""
    calls = []

    def run(scale, seeds, out_dir, overrides=()):
        logging.getLogger("mmcl.experiments.xue2024").info("progress line")
        calls.append((scale, seeds, out_dir, *overrides))
        return {"claims": xue2024.merge_claims(FAKE_CLAIMS, []), "note": xue2024.NOTE}

    monkeypatch.setattr(xue2024, "run", run)
    return calls


def test_json_prints_only_the_claims(fake_xue, capsys, tmp_path):
    argv = ["repro", "xue2024", "--scale", "tiny", "--seeds", "2", "--out", str(tmp_path)]
    assert main([*argv, "--json"]) == 0
    claims = json.loads(capsys.readouterr().out)  # the whole of stdout parses
    assert [set(c) for c in claims] == [{"id", "statement", "paper", "ours", "held"}] * 2
    assert [c["held"] for c in claims] == [True, False]
    assert fake_xue == [("tiny", 2, tmp_path)]


def test_set_overrides_reach_papers_that_take_them(fake_xue, capsys, tmp_path):
    argv = ["repro", "xue2024", "--out", str(tmp_path), "--json"]
    assert main([*argv, "--set", "data.format=coco", "--set", "data.path=c.json"]) == 0
    assert fake_xue == [("tiny", None, tmp_path, "data.format=coco", "data.path=c.json")]
    assert main(["repro", "fang2022", "--set", "train.steps=3"]) == 2
    assert "takes no --set" in capsys.readouterr().err


def test_default_out_dir_names_paper_and_scale(fake_xue, capsys):
    assert main(["repro", "xue2024", "--scale", "small"]) == 0
    scale, seeds, out = fake_xue[0]
    assert (scale, seeds, str(out)) == ("small", None, "runs/repro_xue2024_small")
    text = capsys.readouterr().out
    assert "C1/svd" in text and "NOT HELD" in text and "1/2 claims held" in text
    assert xue2024.NOTE in text


def test_table_cuts_long_cells_to_a_fixed_width():
    long = {**FAKE_CLAIMS[0], "paper": "x" * 200, "ours": "y" * 200}
    lines = repro.claims_text([long, FAKE_CLAIMS[1]], width=20).splitlines()
    assert len({len(line.rstrip()) for line in (lines[0], lines[2])}) == 1
    assert "~" in lines[2] and "x" * 21 not in lines[2]


def test_unknown_paper_suggests_the_nearest(capsys):
    assert main(["repro", "xue2023", "--json"]) == 2
    captured = capsys.readouterr()
    assert "unknown paper 'xue2023'" in captured.err and "did you mean 'xue2024'" in captured.err
    assert captured.out == ""


def test_bad_seed_count_is_an_error(fake_xue, capsys):
    assert main(["repro", "xue2024", "--seeds", "0"]) == 2
    assert "--seeds" in capsys.readouterr().err and fake_xue == []
