"""A run report draws each chart only when it has something to draw."""

from __future__ import annotations

from mmcl.eval.tasks import make_record
from mmcl.report.html import write_report


def _attribute(model: str, attribute: str, value: float) -> dict:
    record = make_record(model, "attributes", "shapes", "balanced", 100, "accuracy", value)
    return record | {"attribute": attribute}


def test_attribute_probes_alone_give_only_the_attribute_chart(tmp_path):
    records = [_attribute("stage1", "color", 0.9), _attribute("stage1", "shape", 0.3)]
    page = write_report(tmp_path, {"meta": {}, "records": records}).read_text()
    assert page.count("<img") == 1 and "<img alt='attribute probes'" in page
    assert [p.name for p in tmp_path.glob("*.png")] == ["report_attributes.png"]
    assert "attribute probes (%) on balanced" in page and "<th>color</th>" in page  # the table


def test_a_headline_accuracy_gets_its_chart(tmp_path):
    records = [make_record("clip", "zeroshot", "shapes", split, 100, "accuracy", 0.5)
               for split in ("id", "sketch")]  # fmt: skip
    page = write_report(tmp_path, {"meta": {}, "records": records}).read_text()
    assert "<img alt='accuracy per split" in page and list(tmp_path.glob("*.png"))
