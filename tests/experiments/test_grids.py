"""Each paper's grids are YAML in the package, read into its dataclasses; mistakes name the file."""

from __future__ import annotations

import dataclasses
from importlib import resources
from pathlib import Path

import pytest
import yaml

from mmcl.errors import MMCLError
from mmcl.experiments import calibrated
from mmcl.experiments.fang2022 import scales as fang
from mmcl.experiments.grids import grid_path, read_grid
from mmcl.experiments.mcl2024 import scales as mcl
from mmcl.experiments.xue2024 import scales as xue
from mmcl.experiments.zhang2023 import resampling as zr
from mmcl.experiments.zhang2023 import scales as zhang
from mmcl.experiments.zhang2023 import theory
from mmcl.experiments.zhang2023.probes import BASELINE

SCALES = ("tiny", "small", "paper")
TABLES = {
    "mcl2024": (lambda: mcl.SCALES, mcl.Scale, SCALES),
    "fang2022": (lambda: fang.SCALES, fang.FangScale, SCALES),
    "xue2024-vector": (lambda: xue.VECTOR_SCALES, xue.VectorScale, SCALES),
    "xue2024-images": (lambda: xue.IMAGE_SCALES, xue.ImageScale, SCALES),
    "zhang2023": (lambda: zhang.SCALES, zhang.ZhangScale, SCALES),
    "zhang2023-theory": (lambda: theory.SCALES, theory.TheoryScale, ("tiny", "small")),
    "zhang2023-resampling": (lambda: zr.SCALES, zr.ResamplingScale, ("tiny", "small")),
}
FILES = {
    "calibrated": ["budget.yaml"],
    "mcl2024": ["scales.yaml", "claims.yaml"],
    "fang2022": ["scales.yaml", "claims.yaml"],
    "xue2024": ["scales.yaml", "claims.yaml"],
    "zhang2023": ["scales.yaml", "theory.yaml", "resampling.yaml", "claims.yaml"],
}


def _tuples_throughout(scale) -> bool:
    """No list survives the reading: the dataclasses stay hashable and compare as in code."""
    return all(not isinstance(getattr(scale, f.name), list) for f in dataclasses.fields(scale))


@pytest.mark.parametrize("table", list(TABLES))
def test_every_scale_of_every_paper_loads_into_its_dataclass(table):
    scales, cls, names = TABLES[table]
    loaded = scales()
    assert tuple(loaded) == names
    assert all(type(s) is cls and _tuples_throughout(s) for s in loaded.values())
    hash(tuple(loaded.values()))  # frozen and hashable, as the dicts in code were


def test_references_in_the_files_resolve_to_the_values_in_code():
    assert xue.IMAGE_SCALES["tiny"].extra == calibrated.BUDGET
    assert xue.IMAGE_SCALES["small"].extra == ("model.text_width=64", "model.embed_dim=64")
    paper = zhang.SCALES["paper"]
    assert paper.grid is None and paper.theory is theory.SCALES["small"]
    assert zhang.SCALES["tiny"].grid is zr.SCALES["tiny"]
    assert set(zhang.SCALES["tiny"].runs) < set(zhang.ALL_RUNS)
    assert next(iter(zr.VARIANTS)) == BASELINE and zr.VARIANTS[BASELINE] == {}
    assert zr.variant_overrides("drop_false_negative", None)[-1] == (
        "method.resampling.false_negative_ratio=0.05"
    )


def test_the_calibrated_budget_is_the_demos_frozen_one():
    budget = dict(item.split("=", 1) for item in calibrated.BUDGET)
    assert len(budget) == len(calibrated.BUDGET) == 15
    assert budget["train.steps"] == "450" and budget["train.lr"] == "0.005"
    assert budget["data.shapes.n_train"] == "10000" and budget["train.precision"] == "fp32"


@pytest.mark.parametrize("experiment", list(FILES))
def test_the_package_ships_every_grid_file(experiment):
    for name in FILES[experiment]:
        path = resources.files("mmcl") / "configs" / experiment / name
        assert path.is_file() and path == grid_path(experiment, name)
    assert (resources.files("mmcl") / "configs" / "clip_shapes.yaml").is_file()


def test_package_data_covers_every_yaml_under_configs():
    tomllib = pytest.importorskip("tomllib")
    root = Path(__file__).resolve().parents[2]
    globs = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"
    ]["mmcl"]
    package = root / "src" / "mmcl"
    shipped = {p for g in globs for p in package.glob(g)}
    files = set((package / "configs").rglob("*.yaml"))
    assert len(files) >= 12 and files <= shipped


# ---- mistakes in a file --------------------------------------------------------------------


def _mcl_file(tmp_path: Path, edit) -> Path:
    """mcl2024's scales.yaml with one edit, written to tmp_path."""
    data = yaml.safe_load(grid_path("mcl2024", "scales.yaml").read_text())
    edit(data)
    path = tmp_path / "scales.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _load_mcl(path: Path):
    """What mcl2024.scales reads from its file: the shared overrides and the scales."""
    grid = read_grid(path, ("shared", "mmvp_design", "scales"))
    return grid.strings("shared"), grid.table(mcl.Scale, "scales")


def test_a_copy_of_a_file_loads_as_the_original(tmp_path):
    assert _load_mcl(_mcl_file(tmp_path, lambda data: None)) == (mcl.SHARED, mcl.SCALES)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d["scales"]["tiny"].update(n_trian=1), r"scales\.tiny: unknown key 'n_trian'; "
         r"did you mean 'n_train'\?"),
        (lambda d: d["scales"].update(smal=d["scales"].pop("small")),
         r"scales: unknown scale 'smal'; did you mean 'small'\?"),
        (lambda d: d["scales"].pop("paper"), r"scales: no scale 'paper'"),
        (lambda d: d["scales"]["small"].pop("steps"), r"scales\.small: missing key 'steps'"),
        (lambda d: d["scales"]["tiny"].update(steps="many"),
         r"scales\.tiny\.steps: expected int, got 'many'"),
        (lambda d: d["scales"]["tiny"].update(seeds=[0, "one"]),
         r"scales\.tiny\.seeds\[1\]: expected int"),
        (lambda d: d["scales"]["tiny"].update(stages=2), r"scales\.tiny: .*3 SimCLR stages"),
        (lambda d: d.update(scaels=d.pop("scales")),
         r"unknown section 'scaels'; did you mean 'scales'\?"),
        (lambda d: d.update(shared=[1, 2]), r"shared must be a list of strings"),
    ],
)  # fmt: skip
def test_a_mistake_in_a_file_names_the_file_and_the_key(tmp_path, edit, message):
    path = _mcl_file(tmp_path, edit)
    with pytest.raises(MMCLError, match=message) as error:
        _load_mcl(path)
    assert str(error.value).startswith(str(path))


def test_an_unknown_name_for_a_reference_suggests_the_nearest(tmp_path):
    data = yaml.safe_load(grid_path("zhang2023", "scales.yaml").read_text())
    data["scales"]["small"]["grid"] = "smal"
    path = tmp_path / "scales.yaml"
    path.write_text(yaml.safe_dump(data))
    refs = {"theory": theory.SCALES, "grid": zr.SCALES}
    with pytest.raises(MMCLError, match=r"scales\.small\.grid: unknown name 'smal'; did you mean"):
        read_grid(path, ("scales",)).table(zhang.ZhangScale, "scales", refs=refs)
    data["scales"]["small"].update(grid="small", runs=["simclr", "new_postive"])
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(MMCLError, match=r"scales\.small: .*'new_postive'; did you mean"):
        read_grid(path, ("scales",)).table(zhang.ZhangScale, "scales", refs=refs)


def test_a_missing_or_unreadable_file_is_one_clear_error(tmp_path):
    with pytest.raises(MMCLError, match="grid file .*nothing.yaml not found"):
        read_grid(tmp_path / "nothing.yaml", ("scales",))
    (tmp_path / "bad.yaml").write_text("scales: [tiny\n")
    with pytest.raises(MMCLError, match="bad.yaml is not valid YAML"):
        read_grid(tmp_path / "bad.yaml", ("scales",))
    (tmp_path / "list.yaml").write_text("- tiny\n")
    with pytest.raises(MMCLError, match="list.yaml must hold a mapping of sections"):
        read_grid(tmp_path / "list.yaml", ("scales",))
