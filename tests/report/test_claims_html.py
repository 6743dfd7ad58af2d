"""The claims and checks tables of the paper reports: verdicts colour-coded, checks apart."""

from __future__ import annotations

from mmcl import stats, verdicts
from mmcl.report.html import checks_html, claims_html

CLAIM = stats.Claim("C1", "A <beats> B", "A > B", "acc A - B", stats.Greater(0.0, reason="why"))


def test_each_verdict_gets_its_own_class_and_the_rule_is_shown():
    rows = verdicts.decide_families(
        [
            CLAIM.decide(stats.difference([0.9, 0.91, 0.92], [0.5, 0.5, 0.51], test="per-seed")),
            CLAIM.decide(stats.difference([0.5, 0.5, 0.51], [0.9, 0.91, 0.92], test="per-seed")),
            CLAIM.decide(stats.estimate([0.1, -0.1, 0.05], test="per-seed")),
        ]
    )
    page = claims_html(rows, "figures are ours")
    assert "verdict held'>held (3 seeds; Holm over 3 (paper); raw: held)" in page
    assert "verdict not-held'>not held (3 seeds; Holm over 3" in page
    assert "verdict inconclusive'>inconclusive (3 seeds; Holm over 3" in page
    assert "its interval reaches the boundary; about" in page  # why, and the seeds it needs
    assert "Margin 0: why." in page and "not checked: none stated" in page
    assert "A &lt;beats&gt; B" in page and "held if the 95% interval" in page
    assert "<p>figures are ours</p>" in page and "class='scroll'" in page


def test_checks_table_marks_failures_and_is_empty_without_checks():
    check = stats.Check("identity", "closed form = SVD", tolerance=1e-6)
    page = checks_html([check.result(1e-9), check.result(0.5)])
    assert page.count("<tr>") == 3 and ">pass<" in page and ">FAIL<" in page
    assert checks_html([]) == ""
