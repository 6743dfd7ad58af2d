"""Provenance in results files: each zero-shot record names the exact prompts it was scored
with by keys an outside check recomputes, and the file keeps each list once."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import pickle

import pytest
import torch

from mmcl.data.templates import preset_templates, resolve_templates, template_set_name
from mmcl.data.worlds import load_world
from mmcl.data.worlds.shapes import ShapesConfig
from mmcl.errors import MMCLError
from mmcl.eval.suite import EvalData, evaluate_model
from mmcl.eval.tasks import (
    ContentKey,
    make_record,
    provenance_field,
    read_results,
    write_results,
)
from mmcl.eval.zeroshot import zero_shot_accuracy, zero_shot_classifier
from mmcl.models.model import ModelConfig, build_model
from mmcl.models.tokenizer import Tokenizer


def sha256_12(strings: list[str]) -> str:
    """The key as the README tells an outside check to compute it."""
    text = json.dumps(strings, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def test_a_key_is_the_documented_digest_and_survives_pickling():
    templates = ["a photo of a {}.", "une photo d'un {}."]
    key = ContentKey("templates", templates)
    assert key == sha256_12(templates) and len(key) == 12
    again = pickle.loads(pickle.dumps(key))
    assert again == key and again.content == templates and again.kind == "templates"
    assert ContentKey("templates", templates[::-1]) != key  # order is part of the prompts


def test_the_file_keeps_each_list_once_and_reads_back_equal(tmp_path):
    names = [f"class {i}" for i in range(50)]
    keys = provenance_field("templates", ["a {}."]) | provenance_field("class_names", names)
    records = [make_record("m", "zeroshot", "d", s, 10, "accuracy", 0.5, **keys)
               for s in ("id", "sketch")]  # fmt: skip
    path = tmp_path / "results.json"
    write_results(path, {"run": "r"}, records)
    raw = json.loads(path.read_text())
    assert raw["meta"]["provenance"]["class_names"] == {sha256_12(names): names}
    assert path.read_text().count('"class 49"') == 1  # once in the file, not once per record
    assert all(r["class_names_sha256"] == sha256_12(names) for r in raw["records"])
    back = read_results(path)
    assert back["records"] == records
    write_results(tmp_path / "again.json", {}, back["records"])  # read, then written anew
    assert read_results(tmp_path / "again.json")["meta"]["provenance"] == raw["meta"]["provenance"]


def test_an_edited_list_is_caught_and_an_old_file_still_reads(tmp_path):
    keys = provenance_field("templates", ["a {}."])
    path = tmp_path / "results.json"
    write_results(path, {}, [make_record("m", "zeroshot", "d", "id", 1, "accuracy", 1.0, **keys)])
    raw = json.loads(path.read_text())
    raw["meta"]["provenance"]["templates"][keys["templates_sha256"]] = ["the {}."]
    path.write_text(json.dumps(raw))
    with pytest.raises(MMCLError, match="does not hash to"):
        read_results(path)
    old = {"meta": {"seed": 0}, "records": [make_record("m", "knn", "d", "id", 1, "accuracy", 1)]}
    path.write_text(json.dumps(old))
    assert read_results(path) == old


def test_template_sets_are_named_by_their_exact_strings():
    assert template_set_name(resolve_templates(["openai_imagenet"])) == "openai_imagenet"
    assert len(preset_templates("openai_imagenet")) == 80
    assert template_set_name(preset_templates("simple_imagenet")[:-1]) == "custom"
    assert template_set_name(["a photo of a {}."]) == "custom"


def test_zeroshot_records_name_the_prompts_they_were_scored_with(tmp_path):
    """The lists the file keeps rebuild the classifier and give the record's accuracy, on the
    whole class list and on a class-subset split alike."""
    world = ShapesConfig(n_train=64, n_test=96)
    train, test = (load_world(world, name, tmp_path) for name in ("train", "id"))
    train = dataclasses.replace(train, prompt_templates=["a {}.", "a sketch of the {}."])
    keep = test.labels < 3
    subset = dataclasses.replace(test, name="subset", images=test.images[keep],
                                 labels=test.labels[keep], attributes={},
                                 captions=[c for c, k in zip(test.captions, keep.tolist(),
                                                             strict=True) if k])  # fmt: skip
    torch.manual_seed(0)
    cfg = ModelConfig(width=4, text_width=32, text_layers=1, text_heads=2, embed_dim=16)
    model = build_model(cfg, 32, with_text=True).eval()
    data = EvalData("shapes", train, {"id": test, "subset": subset}, probe_train_size=32,
                    candidate_classes={"subset": torch.tensor([0, 1, 2])})  # fmt: skip
    records = evaluate_model(model, "m", data, ["zeroshot"], Tokenizer())
    write_results(tmp_path / "results.json", {}, records)
    results = read_results(tmp_path / "results.json")
    table = results["meta"]["provenance"]
    for split, split_data in (("id", test), ("subset", subset)):
        record = next(
            r for r in results["records"] if (r["split"], r["metric"]) == (split, "accuracy")
        )
        templates = table["templates"][record["templates_sha256"]]
        names = table["class_names"][record["class_names_sha256"]]
        assert templates == train.prompt_templates and record["template_set"] == "custom"
        assert record["templates_sha256"] == sha256_12(templates)
        assert names == (train.class_names[:3] if split == "subset" else train.class_names)
        classifier = zero_shot_classifier(model, Tokenizer(), names, templates)
        with torch.no_grad():
            embedding = model.encode_image(data_images(split_data))
        labels = split_data.labels  # the subset's classes are the first three: same ids
        recomputed = zero_shot_accuracy(embedding, classifier, labels)["accuracy"]
        assert record["value"] == pytest.approx(recomputed, abs=1e-6)


def data_images(split) -> torch.Tensor:
    """The split's pixels as the model reads them (OpenAI-normalised floats)."""
    from mmcl.data.world_dataset import normalize

    return normalize(split.images)


def test_a_world_split_names_the_worlds_own_prompts(tmp_path):
    """A world's splits carry the world's prompts, whatever data.prompt_templates says: the
    record, not the saved config, says which were used."""
    world = ShapesConfig(n_train=32, n_test=32)
    train, test = (load_world(world, name, tmp_path) for name in ("train", "id"))
    torch.manual_seed(0)
    cfg = ModelConfig(width=4, text_width=32, text_layers=1, text_heads=2, embed_dim=16)
    model = build_model(cfg, 32, with_text=True).eval()
    records = evaluate_model(model, "m", EvalData("shapes", train, {"id": test}), ["zeroshot"],
                             Tokenizer())  # fmt: skip
    assert {r["template_set"] for r in records} == {"mmcl_world"}
    assert {r["templates_sha256"] for r in records} == {sha256_12(train.prompt_templates)}
    assert train.prompt_templates != ["a photo of a {}."]  # the config's default, not used
