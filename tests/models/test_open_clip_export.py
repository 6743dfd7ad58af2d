"""`mmcl export` says how its folder loads, and warns where open_clip would load it quietly as
another model: by architecture name, at the architecture's own image size."""

from __future__ import annotations

import json
from types import SimpleNamespace

import open_clip
import pytest

from mmcl.cli import main
from mmcl.models import OpenCLIPModel
from mmcl.models.open_clip_model import EXPORT_WEIGHTS_FILE

NAME = "mmcl-export-notes-vit"  # registered at 32 px; the model below is built at 64 px
TINY = {
    "embed_dim": 16,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 64, "patch_size": 16},
    "text_cfg": {"context_length": 8, "vocab_size": 49408, "width": 16, "heads": 1, "layers": 1},
}


@pytest.fixture(scope="module")
def architecture(tmp_path_factory):
    folder = tmp_path_factory.mktemp("open_clip_configs")
    (folder / f"{NAME}.json").write_text(json.dumps(TINY))
    open_clip.add_model_config(folder)
    return NAME


def _export(monkeypatch, tmp_path, model: OpenCLIPModel):
    """`mmcl export` of a run whose latest checkpoint holds `model` (the run is not read)."""
    method = SimpleNamespace(model=model)
    monkeypatch.setattr("mmcl.runs.training.load_trained", lambda run: (None, method))
    out = tmp_path / "export"
    assert main(["export", str(tmp_path / "run"), "--out", str(out)]) == 0
    return out


def test_an_export_at_another_size_than_its_architecture_warns(
    architecture, tmp_path, monkeypatch, capsys
):
    out = _export(monkeypatch, tmp_path, OpenCLIPModel(architecture, image_size=64))
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("mmcl export: warning: ")
    assert f"local-dir:{out}" in err and "at 32 px" in err
    facts = json.loads((out / "mmcl_export.json").read_text())
    assert (facts["image_size"], facts["architecture_image_size"]) == (64, 32)
    readme = (out / "README.md").read_text()
    assert f"create_model_and_transforms('local-dir:{out.resolve()}')" in readme
    assert "Do not load it by architecture name" in readme
    # what the warning is about: loaded by name, the export builds quietly at 32 px
    quiet, _, _ = open_clip.create_model_and_transforms(
        architecture, pretrained=str(out / EXPORT_WEIGHTS_FILE)
    )
    assert quiet.visual.image_size == (32, 32)
    right, _, _ = open_clip.create_model_and_transforms(f"local-dir:{out}")
    assert right.visual.image_size == (64, 64)


def test_an_export_at_its_architectures_size_loads_either_way_and_is_quiet(
    architecture, tmp_path, monkeypatch, capsys
):
    out = _export(monkeypatch, tmp_path, OpenCLIPModel(architecture, image_size=32))
    assert capsys.readouterr().err == ""
    assert "Do not load" not in (out / "README.md").read_text()
