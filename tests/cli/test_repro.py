"""`mmcl repro`: --json with verdicts and checks, the text table, unknown-paper errors."""

from __future__ import annotations

import json
import logging
import sys
import types

import pytest

from mmcl import stats, verdicts
from mmcl.cli import main, repro
from mmcl.experiments import registry

CLAIM = stats.Claim("C1/svd", "MMCL beats SL", "MMCL > SL", "OOD acc gap", stats.Greater())
EQUAL = stats.Claim("C4/svd", "no effect", "flat at full rank", "slope", stats.Equivalent(0.01))
CHECK = stats.Check("identity", "closed form equals SVD", 1e-6, "largest of 3 worlds")


def fake_result() -> dict:
    return {
        "meta": {},
        "records": [],
        "claims": verdicts.decide_families(
            [
                CLAIM.decide(stats.difference([0.9, 0.91, 0.9], [0.1, 0.12, 0.1], test="shared")),
                EQUAL.decide(stats.estimate([0.2, -0.2, 0.1], test="per-seed")),
            ]
        ),
        "checks": [CHECK.result(1e-9)],
        "note": "figures are ours against the paper's stated directions",
    }


@pytest.fixture
def fake_xue(monkeypatch):
    """The xue2024 package replaced by a module whose run logs (as the real one does)."""
    calls = []

    def run(scale, seeds, out_dir, overrides=()):
        logging.getLogger("mmcl.experiments.xue2024").info("progress line")
        calls.append((scale, seeds, out_dir, *overrides))
        return fake_result()

    module = types.ModuleType("mmcl.experiments.xue2024", "Fake Xue et al. 2024.")
    module.run = run
    monkeypatch.setitem(sys.modules, "mmcl.experiments.xue2024", module)
    return calls


def test_json_prints_claims_with_verdicts_and_checks_apart(fake_xue, capsys, tmp_path):
    argv = ["repro", "xue2024", "--scale", "tiny", "--seeds", "3", "--out", str(tmp_path)]
    assert main([*argv, "--json"]) == 0
    document = json.loads(capsys.readouterr().out)  # the whole of stdout parses
    assert (document["paper"], document["scale"]) == ("xue2024", "tiny")
    claims = document["claims"]
    assert [set(c) for c in claims] == [set(repro.CLAIM_KEYS)] * 2
    assert [c["verdict"] for c in claims] == ["held", "inconclusive"]
    assert all(c["n_seeds"] == 3 and len(c["interval"]) == 2 for c in claims)
    assert claims[0]["family_size"] == 2 and claims[0]["precondition"]["status"] == "not checked"
    assert claims[0]["seeds_needed"] is None and isinstance(claims[1]["seeds_needed"], (int, str))
    assert claims[1]["why"] and claims[1]["margin"] == 0.01
    assert [c["id"] for c in document["checks"]] == ["identity"]
    assert fake_xue == [("tiny", 3, tmp_path)]


def test_set_overrides_reach_the_paper(fake_xue, tmp_path):
    argv = ["repro", "xue2024", "--out", str(tmp_path), "--json"]
    assert main([*argv, "--set", "data.format=coco", "--set", "data.path=c.json"]) == 0
    assert fake_xue == [("tiny", None, tmp_path, "data.format=coco", "data.path=c.json")]


def test_text_table_prints_verdicts_rules_checks_and_counts(fake_xue, capsys):
    assert main(["repro", "xue2024", "--scale", "small"]) == 0
    scale, seeds, out = fake_xue[0]
    assert (scale, seeds, str(out)) == ("small", None, "runs/repro_xue2024_small")
    text = capsys.readouterr().out
    assert "C1/svd" in text and "held (n=3)" in text and "inconclusive (n=3)" in text
    assert "rules (fixed before the run)" in text and "+/-0.01" in text
    assert "why undecided:" in text and "C4/svd: its interval reaches the boundary" in text
    assert "identity  pass" in text and "largest of 3 worlds" in text
    assert "2 claims: 1 held, 0 not held, 1 inconclusive (Holm, 5% family-wise" in text
    assert "1/1 checks pass" in text
    assert "stated directions" in text


def test_table_cuts_long_cells_to_a_fixed_width():
    claims = fake_result()["claims"]
    long = {**claims[0], "paper": "x" * 200, "ours": "y" * 200}
    lines = repro.claims_text([long, claims[1]], width=20).splitlines()
    assert lines[2].index("held (n=3)") == lines[0].index("verdict")  # columns stay aligned
    assert "~" in lines[2] and "y" * 21 not in lines[2]


def test_unanswerable_claims_are_listed_before_the_verdicts():
    claims = fake_result()["claims"]
    rule = stats.Precondition("the supervised arm learns the shape here")
    failed = {**claims[1], "precondition": rule.result(False, "probe 15.6% [12.4%, 18.8%]")}
    text = repro.unanswerable_text([claims[0], failed])
    assert text.splitlines()[0].startswith("not answerable here")
    assert f"{failed['id']}: the supervised arm learns the shape here; seen: probe 15.6%" in text
    assert claims[0]["id"] + ":" not in text
    assert repro.unanswerable_text([claims[0]]) == ""


def test_auto_seeds_run_a_pilot_then_the_seeds_the_undecided_claims_need(monkeypatch, tmp_path):
    """The pilot (3 seeds) leaves a claim undecided; the follow-up gets the seeds it asks for,
    capped by the budget, and both looks are decided at alpha / 2."""
    calls = []

    def run(scale, seeds, out_dir, overrides=()):
        n = 3 if seeds is None else seeds
        calls.append(n)
        values = [0.01 + 0.02 * ((-1) ** k) * (k % 3) / 2 for k in range(n)]  # mean ~0.01
        est = stats.estimate(values, test="per-seed")
        rows = [CLAIM.decide(stats.estimate([0.5, 0.51, 0.52][: min(n, 3)] * (n // 3 or 1),
                                            test="per-seed")), EQUAL.decide(est)]  # fmt: skip
        return {**fake_result(), "claims": verdicts.decide_families(rows)}

    module = types.ModuleType("mmcl.experiments.xue2024", "Fake Xue et al. 2024.")
    module.run = run
    monkeypatch.setitem(sys.modules, "mmcl.experiments.xue2024", module)
    result = registry.run_paper_auto("xue2024", "tiny", tmp_path, budget_s=3600)
    assert calls[0] == 3 and len(calls) == 2 and calls[1] > 3
    assert (
        result["looks"]["pilot"]["seeds"] == 3 and result["looks"]["follow_up"]["seeds"] == calls[1]
    )
    by_id = {c["id"]: c for c in result["claims"]}
    assert by_id["C1/svd"]["look"] == 1 and by_id["C1/svd"]["family_alpha"] == pytest.approx(0.025)
    assert by_id["C4/svd"]["look"] == 2 and by_id["C4/svd"]["n_seeds"] == calls[1]


@pytest.mark.parametrize(
    ("argv", "flag"),
    [(["--seeds", "auto", "--budget", "soon"], "--budget"), (["--seeds", "many"], "--seeds")],
)
def test_bad_budget_and_seed_values_name_the_flag(fake_xue, capsys, argv, flag):
    with pytest.raises(SystemExit) as stop:  # argparse's one-line usage error
        main(["repro", "xue2024", *argv])
    assert stop.value.code == 2 and f"argument {flag}" in capsys.readouterr().err
    assert fake_xue == []


def test_claims_that_skipped_the_family_step_are_refused(monkeypatch, tmp_path):
    module = types.ModuleType("mmcl.experiments.xue2024")
    raw = [CLAIM.decide(stats.estimate([0.9, 0.91, 0.9], test="per-seed"))]
    module.run = lambda *args: {**fake_result(), "claims": raw}
    monkeypatch.setitem(sys.modules, "mmcl.experiments.xue2024", module)
    with pytest.raises(RuntimeError, match="C1/svd: no family verdict"):
        registry.run_paper("xue2024", "tiny", None, tmp_path)


def test_a_paper_result_without_checks_is_refused(fake_xue, monkeypatch, tmp_path):
    broken = types.ModuleType("mmcl.experiments.xue2024")
    broken.run = lambda *args: {k: v for k, v in fake_result().items() if k != "checks"}
    monkeypatch.setitem(sys.modules, "mmcl.experiments.xue2024", broken)
    with pytest.raises(RuntimeError, match="no checks"):
        registry.run_paper("xue2024", "tiny", None, tmp_path)


def test_unknown_paper_suggests_the_nearest(capsys):
    assert main(["repro", "xue2023", "--json"]) == 2
    captured = capsys.readouterr()
    assert "unknown paper 'xue2023'" in captured.err and "did you mean 'xue2024'" in captured.err
    assert captured.out == ""


def test_bad_seed_count_is_an_error(fake_xue, capsys):
    with pytest.raises(SystemExit):
        main(["repro", "xue2024", "--seeds", "0"])
    assert "--seeds" in capsys.readouterr().err and fake_xue == []


def test_every_paper_is_registered_with_a_citation():
    assert registry.PAPERS.names() == ["fang2022", "mcl2024", "xue2024", "zhang2023"]
    assert registry.seed_list(None, (0, 1, 2)) == (0, 1, 2)
    assert registry.seed_list(4, (0,)) == (0, 1, 2, 3)
