"""`mmcl eval --model` results say what was scored and how, enough for open_clip alone to give
the same zero-shot accuracy; `mmcl results export --format clip_benchmark` carries it over in
CLIP_benchmark's own names and files."""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path

import open_clip
import pytest
import torch
from PIL import Image

from mmcl.cli import main
from mmcl.data.templates import preset_templates
from mmcl.eval.clip_benchmark import output_name, to_clip_benchmark
from mmcl.eval.tasks import (
    make_record,
    provenance_field,
    read_results,
    unpack_correct,
    write_results,
)

from .test_pretrained_eval import mock_imagenet, saved_model  # noqa: F401  (a fixture)
from .test_provenance import sha256_12

SHIFTS = ("imagenet_v2", "imagenet_r")


@pytest.fixture(scope="module")
def scored(tmp_path_factory, saved_model):  # noqa: F811  (the imported fixture)
    """A tiny open_clip model scored on a mock ImageNet val and two shifts, then exported."""
    root = tmp_path_factory.mktemp("provenance")
    splits = mock_imagenet(root / "data")
    shifts = ",".join(f"{name}={splits[name]}" for name in SHIFTS)
    assert main(["eval", "--model", "mmcl-tiny-vit", "--pretrained", str(saved_model),
                 "--data", f"imagenet={splits['val']}", "--shifts", shifts,
                 "--out", str(root / "out")]) == 0  # fmt: skip
    assert main(["results", "export", str(root / "out" / "results.json"),
                 "--out", str(root / "cb")]) == 0  # fmt: skip
    return root, splits, read_results(root / "out" / "results.json")


def test_pure_eval_names_the_model_not_training_defaults(scored, saved_model):  # noqa: F811
    _, splits, results = scored
    meta, records = results["meta"], results["records"]
    assert not {"steps", "method", "seed"} & set(meta)
    assert (meta["model"], meta["pretrained"]) == ("mmcl-tiny-vit", str(saved_model))
    assert meta["open_clip_version"] == metadata.version("open_clip_torch")
    for record in records:
        assert not {"seed", "method"} & set(record)
        assert (record["architecture"], record["pretrained"]) == ("mmcl-tiny-vit", str(saved_model))
        folder = splits["val" if record["split"] == "imagenet" else record["split"]]
        assert record["dataset"] == str(folder)  # each shift names its own folder
    assert {r["split"] for r in records} == {"imagenet", *SHIFTS}


def test_open_clip_alone_reproduces_each_zero_shot_accuracy(scored, saved_model):  # noqa: F811
    """From the record and its file only: the templates, class names, preprocessing and
    precision it names, with open_clip's own model, tokenizer and transform."""
    _, splits, results = scored
    table = results["meta"]["provenance"]
    model, _, transform = open_clip.create_model_and_transforms(
        "mmcl-tiny-vit", pretrained=str(saved_model)
    )
    model.eval()
    tokenizer = open_clip.get_tokenizer("mmcl-tiny-vit")
    checked = set()
    for record in results["records"]:
        if (record["task"], record["metric"]) != ("zeroshot", "accuracy"):
            continue
        checked.add(record["split"])
        templates = table["templates"][record["templates_sha256"]]
        names = table["class_names"][record["class_names_sha256"]]
        assert record["template_set"] == "openai_imagenet"
        assert templates == preset_templates("openai_imagenet")
        assert record["templates_sha256"] == sha256_12(templates)
        preprocess = table["preprocess"][record["preprocess_sha256"]]
        assert preprocess["mean"] == list(transform.transforms[-1].mean)
        folder = Path(record["dataset"])
        images, labels = _images_and_labels(folder, splits, names, transform)
        bf16 = record["precision"] == "amp_bf16"
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            text = [model.encode_text(tokenizer([t.format(n) for t in templates])) for n in names]
            weights = torch.stack([torch.nn.functional.normalize(t.float(), dim=-1).mean(0)
                                   for t in text])  # fmt: skip
            weights = torch.nn.functional.normalize(weights, dim=-1)  # (C, D)
            features = torch.nn.functional.normalize(model.encode_image(images).float(), dim=-1)
        correct = (features @ weights.T).argmax(1) == labels  # (N,) in sorted file order
        assert record["value"] == pytest.approx(correct.float().mean().item(), abs=1e-6)
        assert unpack_correct(record).tolist() == correct.tolist(), record["split"]
        assert record["n_samples"] == len(labels)
    assert checked == {"imagenet", *SHIFTS}


def _images_and_labels(folder, splits, names, transform):
    """Every image of a mock split through open_clip's transform, labelled by its class's
    position in `names`: class folders (wnids, or ImageNetV2's indices) sorted as the val's."""
    val_folders = sorted(p.name for p in splits["val"].iterdir())
    own = sorted((p for p in folder.iterdir() if p.is_dir()), key=lambda p: p.name)
    images, labels = [], []
    for k, class_folder in enumerate(own):
        for path in sorted(class_folder.glob("*.png")):
            images.append(transform(Image.open(path)))
            labels.append(k)
    assert len(names) == len(val_folders) == len(own)  # the mock holds the same 3 classes
    return torch.stack(images), torch.tensor(labels)


CB_NAMES = {"imagenet": "imagenet1k", "imagenet_v2": "imagenetv2", "imagenet_r": "imagenet-r"}


def test_export_names_the_architecture_checkpoint_and_the_prompts(scored, saved_model):  # noqa: F811
    root, _, results = scored
    docs = [json.loads(p.read_text()) for p in sorted((root / "cb").glob("*.json"))]
    classification = {d["dataset"]: d for d in docs if d["task"] == "zeroshot_classification"}
    assert set(classification) == set(CB_NAMES.values())
    assert {(d["model"], d["pretrained"]) for d in docs} == {("mmcl-tiny-vit", str(saved_model))}
    name = f"imagenet1k_{saved_model.name}_mmcl-tiny-vit_en_zeroshot_classification.json"
    assert json.loads((root / "cb" / name).read_text()) == classification["imagenet1k"]
    inputs = root / "cb" / "reproduce"
    templates = json.loads((inputs / "en_zeroshot_classification_templates.json").read_text())
    classnames = json.loads((inputs / "en_classnames.json").read_text())
    provenance = json.loads((inputs / "mmcl_provenance.json").read_text())
    table = results["meta"]["provenance"]
    accuracy = [
        r for r in results["records"] if (r["task"], r["metric"]) == ("zeroshot", "accuracy")
    ]
    assert {r["split"] for r in accuracy} == set(CB_NAMES)
    for record in accuracy:
        dataset = CB_NAMES[record["split"]]
        assert classification[dataset]["metrics"]["acc1"] == record["value"]
        ours = table["templates"][record["templates_sha256"]]
        names = table["class_names"][record["class_names_sha256"]]
        assert classnames[dataset] == names
        prompts = [t.format(c=n) for n in names for t in templates[dataset]]  # CLIP_benchmark's
        assert prompts == [t.format(n) for n in names for t in ours]
        scored_on = provenance["outputs"][output_name(classification[dataset])]
        assert scored_on["dataset_root"] == record["dataset"]
        assert (scored_on["split"], scored_on["precision"]) == (
            record["split"],
            record["precision"],
        )
        assert scored_on["preprocess"] == table["preprocess"][record["preprocess_sha256"]]
    assert provenance["open_clip_version"] == metadata.version("open_clip_torch")


def test_a_trained_runs_checkpoints_export_as_one_output_each(tmp_path):
    keys = provenance_field("templates", ["a {}."]) | provenance_field("class_names", ["x", "y"])
    records = [make_record("clip_run", "zeroshot", "shapes", "imagenet_sketch", 10, "accuracy",
                           value, checkpoint=f"step_{step:07d}.pt", step=step, **keys)
               for step, value in ((10, 0.2), (20, 0.4))]  # fmt: skip
    meta = {"run": "clip_run", "run_dir": str(tmp_path / "run"), "architecture": "ViT-B-32"}
    docs = to_clip_benchmark(records, meta)
    checkpoints = tmp_path / "run" / "checkpoints"
    assert [(d["model"], d["pretrained"], d["dataset"], d["metrics"]["acc1"]) for d in docs] == [
        ("ViT-B-32", str(checkpoints / "step_0000010.pt"), "imagenet_sketch", 0.2),
        ("ViT-B-32", str(checkpoints / "step_0000020.pt"), "imagenet_sketch", 0.4),
    ]
    write_results(tmp_path / "checkpoint_results.json", meta, records)
    assert main(["results", "export", str(tmp_path / "checkpoint_results.json"),
                 "--out", str(tmp_path / "cb")]) == 0  # fmt: skip
    templates = json.loads((tmp_path / "cb/reproduce/en_zeroshot_classification_templates.json")
                           .read_text())  # fmt: skip
    assert templates == {"imagenet_sketch": ["a {c}."]}
    assert len(list((tmp_path / "cb").glob("*.json"))) == 2


def test_model_dir_names_the_exported_open_clip_folder(tmp_path, capsys):
    keys = provenance_field("templates", ["a {}."]) | provenance_field("class_names", ["x", "y"])
    meta = {"run": "r", "run_dir": str(tmp_path / "run"), "architecture": "local-dir:/arch"}
    one = make_record("r", "zeroshot", "shapes", "id", 10, "accuracy", 0.3,
                      checkpoint="step_0000010.pt", **keys)  # fmt: skip
    write_results(tmp_path / "results.json", meta, [one])
    folder = tmp_path / "export"
    export = ["results", "export", str(tmp_path / "results.json"), "--model-dir", str(folder)]
    assert main([*export, "--out", str(tmp_path / "cb")]) == 2  # not an open_clip folder yet
    assert "--model-dir" in capsys.readouterr().err
    folder.mkdir()
    (folder / "open_clip_config.json").write_text("{}")
    assert main([*export, "--out", str(tmp_path / "cb")]) == 0
    (doc,) = [json.loads(p.read_text()) for p in (tmp_path / "cb").glob("*.json")]
    assert (doc["model"], doc["pretrained"]) == (f"local-dir:{folder.resolve()}", "")
    two = one | {"checkpoint": "step_0000020.pt"}
    write_results(tmp_path / "checkpoint_results.json", meta, [one, two])
    export[2] = str(tmp_path / "checkpoint_results.json")
    assert main([*export, "--out", str(tmp_path / "cb2")]) == 2
    assert "scores 2 checkpoints" in capsys.readouterr().err
