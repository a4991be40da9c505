"""Setups (issue 17): one validated config for model + prompt + retrieval + generation; it
round-trips through JSON, old comparison variants become setups, saved setups are files, and
every bad value is refused with what was wrong and how to fix it."""

from __future__ import annotations

import json

import pytest

from core.compare import VariantSpec
from core.config import GenerationParams
from core.errors import ConfigError
from core.setups import (ModelChoice, PromptChoice, RetrievalChoice, Setup, check_setup_for_task,
                         delete_setup, list_setups, load_setup, save_setup, setup_from_variant)


def _hybrid() -> Setup:
    return Setup("tuned + 4 shots + rag",
                 ModelChoice("embedded:gemma-3-270m", engine="transformers", dtype="float32",
                             threads=1, run_id="20261201-lora"),
                 PromptChoice("few-shot", shots=4, system="Be brief.", calibrate=True),
                 RetrievalChoice("lumen-outfitters", top_k=2),
                 GenerationParams(max_new_tokens=24, stop=("\n",)))


def test_a_setup_round_trips_through_json_and_writes_only_what_applies():
    setup = _hybrid()
    saved = json.loads(json.dumps(setup.to_dict()))
    assert Setup.from_dict(saved) == setup
    assert saved["prompt"] == {"technique": "few-shot", "shots": 4, "system": "Be brief.",
                               "calibrate": True}  # no tools, max_steps or constrained
    plain = Setup("zero").to_dict()
    assert plain == {"name": "zero", "model": {"source": "embedded:gemma-3-270m"},
                     "prompt": {"technique": "zero-shot"}}  # no retrieval, no generation
    react = Setup("agent", prompt=PromptChoice("react", tools=["calculator"], max_steps=4))
    assert react.to_dict()["prompt"] == {"technique": "react", "tools": ["calculator"],
                                         "max_steps": 4}
    assert Setup.from_dict(react.to_dict()) == react


def test_describe_and_parts_name_each_part_in_short_words():
    setup = _hybrid()
    assert setup.describe() == ("run 20261201-lora (tuned) + 4-shot + system prompt calibrated "
                                "+ retrieval from lumen-outfitters (k=2)")
    assert setup.parts == {"model": "run 20261201-lora",
                           "prompt": "4-shot + system prompt calibrated",
                           "retrieval": "lumen-outfitters (k=2)"}
    assert setup.kind == "fine-tuned"
    assert Setup("s", prompt=PromptChoice("few-shot", fewshot_set="reviews")).parts["prompt"] \
        == "set reviews"
    assert Setup("r", retrieval=RetrievalChoice("notes")).kind == "rag"
    assert Setup("a", prompt=PromptChoice("react")).parts == \
        {"model": "gemma-3-270m", "prompt": "ReAct", "retrieval": "none"}
    agent = Setup("a", prompt=PromptChoice("react"), retrieval=RetrievalChoice("handbook"))
    assert agent.describe() == "gemma-3-270m + ReAct (searching handbook)"
    assert agent.parts["retrieval"] == "search tool in handbook" and agent.kind == "react"


@pytest.mark.parametrize("kind, settings, expected", [
    ("zero-shot", {}, {"prompt": {"technique": "zero-shot"}}),
    ("few-shot", {"shots": 8}, {"prompt": {"technique": "few-shot", "shots": 8}}),
    ("few-shot", {"shots": 4, "fewshot_set": "reviews"},
     {"prompt": {"technique": "few-shot", "shots": 4, "fewshot_set": "reviews"}}),
    ("cot", {}, {"prompt": {"technique": "cot"}}),
    ("structured", {"constrained": False},
     {"prompt": {"technique": "structured", "shots": 4, "constrained": False}}),
    ("rag", {"collection": "notes", "top_k": 2},
     {"prompt": {"technique": "zero-shot"}, "retrieval": {"collection": "notes", "top_k": 2}}),
    ("fine-tuned", {"run_id": "r1"},
     {"model": {"source": "m", "engine": "transformers", "run_id": "r1"},
      "prompt": {"technique": "zero-shot"}}),
])
def test_every_old_variant_kind_becomes_a_setup_of_the_same_kind(kind, settings, expected):
    spec = VariantSpec("v", kind, **settings)
    setup = setup_from_variant(spec, "m", "transformers")
    assert setup.kind == kind
    assert setup == setup_from_variant(spec.to_dict(), "m", "transformers")  # saved dicts too
    written = setup.to_dict()
    assert written["prompt"] == expected["prompt"]
    assert written.get("retrieval") == expected.get("retrieval")
    assert written["model"] == expected.get("model", {"source": "m", "engine": "transformers"})


def test_an_old_rag_variant_without_a_collection_searches_its_tasks():
    spec = {"name": "rag", "kind": "rag", "shots": 4, "top_k": 3}  # an old config wrote shots
    assert setup_from_variant(spec, task_collection="lumen-outfitters").retrieval.collection \
        == "lumen-outfitters"
    with pytest.raises(ConfigError, match="needs a document collection") as err:
        setup_from_variant(spec)
    assert "handbook-qa" in err.value.fix


BAD = {
    "unknown key": ({"name": "x", "colour": "red"}, "Unknown setup setting(s): colour"),
    "unknown prompt key": ({"name": "x", "prompt": {"technique": "few-shot", "k": 4}},
                           "Unknown setup prompt setting(s): k"),
    "unknown model key": ({"name": "x", "model": {"adapter": "/a"}},
                          "Unknown setup model setting(s): adapter"),
    "shots as text": ({"name": "x", "prompt": {"technique": "few-shot", "shots": "4"}},
                      "setting shots must be a whole number, got '4'"),
    "few-shot without examples": ({"name": "x", "prompt": {"technique": "few-shot"}},
                                  "Few-shot needs examples"),
    "zero-shot with shots": ({"name": "x", "prompt": {"shots": 4}},
                             "zero-shot shows no worked examples"),
    "unknown technique": ({"name": "x", "prompt": {"technique": "tree-of-thought"}},
                          "Unknown technique 'tree-of-thought'"),
    "calibrated chain of thought": ({"name": "x", "prompt": {"technique": "cot",
                                                             "calibrate": True}},
                                    "answers are generated, not scored"),
    "react with a system prompt": ({"name": "x", "prompt": {"technique": "react",
                                                            "system": "Be nice."}},
                                   "ReAct writes its own prompt"),
    "react with an unknown tool": ({"name": "x", "prompt": {"technique": "react",
                                                            "tools": ["browser"]}},
                                   "ReAct tools must be some of calculator, search"),
    "react steps": ({"name": "x", "prompt": {"technique": "react", "max_steps": 40}},
                    "step limit must be 1 to 12, got 40"),
    "top_k 0": ({"name": "x", "retrieval": {"collection": "notes", "top_k": 0}},
                "top_k must be 1 to 20, got 0"),
    "collection with a slash": ({"name": "x", "retrieval": {"collection": "../x"}},
                                "not a usable collection name"),
    "set with a slash": ({"name": "x", "prompt": {"technique": "few-shot",
                                                  "fewshot_set": "../x"}},
                         "not a usable few-shot set name"),
    "unknown engine": ({"name": "x", "model": {"engine": "vllm"}}, "Unknown engine 'vllm'"),
    "bad dtype": ({"name": "x", "model": {"dtype": "int3"}}, "Unknown dtype 'int3'"),
    "threads text": ({"name": "x", "model": {"threads": "two"}},
                     "threads must be a whole number"),
    "empty run id": ({"name": "x", "model": {"run_id": " "}}, "training run id"),
    "generation not an object": ({"name": "x", "generation": 64},
                                 "generation must be an object"),
    "generation bad value": ({"name": "x", "generation": {"max_new_tokens": 0}},
                             "max_new_tokens must be between 1"),
    "empty name": ({"name": " "}, "A setup has no name"),
    "no name": ({"prompt": {}}, "A setup has no name"),
    "rag template": ({"name": "x", "retrieval": {"collection": "n", "template": "{question}"}},
                     "lacks {context}"),
}


@pytest.mark.parametrize("data, message", BAD.values(), ids=BAD.keys())
def test_bad_setups_say_what_is_wrong_and_how_to_fix_it(data, message):
    with pytest.raises(ConfigError) as err:
        Setup.from_dict(data)
    assert message in err.value.problem
    assert err.value.fix


def test_a_setup_that_does_not_fit_its_task_is_refused_with_the_reason():
    react = Setup("agent", prompt=PromptChoice("react"))
    with pytest.raises(ConfigError, match="ReAct answers questions with tools"):
        check_setup_for_task(react, "classification", False)
    check_setup_for_task(react, "numeric", False)
    calibrated = Setup("c", prompt=PromptChoice("few-shot", shots=4, calibrate=True))
    with pytest.raises(ConfigError, match="this task \\(qa\\) has no labels"):
        check_setup_for_task(calibrated, "qa", False)
    check_setup_for_task(calibrated, "classification", False)
    with pytest.raises(ConfigError, match="needs the task's JSON Schema"):
        check_setup_for_task(Setup("s", prompt=PromptChoice("structured")), "classification",
                             False)


def test_setups_save_list_load_and_delete(lab_home):
    setup = _hybrid()
    with pytest.raises(ConfigError, match="not a usable setup name"):
        save_setup(setup)  # '+' is not allowed in a file name
    setup = Setup("tuned hybrid", setup.model, setup.prompt, setup.retrieval, setup.generation)
    path = save_setup(setup)
    assert path == lab_home / "setups" / "tuned hybrid.json"
    assert not list(path.parent.glob("*.tmp"))
    assert list_setups() == ["tuned hybrid"] and load_setup("tuned hybrid") == setup
    with pytest.raises(ConfigError, match="no saved setup named 'other'") as err:
        load_setup("other")
    assert "tuned hybrid" in err.value.fix
    path.write_text('{"name": "tuned hybrid", "prompt": {"technique": "few-shot"}}')
    with pytest.raises(ConfigError, match="is damaged: Few-shot needs examples"):
        load_setup("tuned hybrid")
    path.write_text("{not json")
    with pytest.raises(ConfigError, match="damaged or unreadable"):
        load_setup("tuned hybrid")
    delete_setup("tuned hybrid")
    assert list_setups() == []
    with pytest.raises(ConfigError, match="no saved setup"):
        delete_setup("tuned hybrid")


@pytest.mark.parametrize("cls, valid", [
    (ModelChoice, {}), (PromptChoice, {}), (RetrievalChoice, {"collection": "notes"}),
    (Setup, {"name": "s"}),
])
def test_every_setup_setting_refuses_a_wrong_type_or_range_by_name(cls, valid):
    from tests.config_properties import check_every_field

    check_every_field(cls, valid)


def test_every_shipped_comparison_config_loads():
    from pathlib import Path

    from core.compare import CompareConfig

    shipped = sorted(Path(__file__).resolve().parents[2].glob("configs/compare-*.json"))
    assert len(shipped) >= 3
    for path in shipped:
        config = CompareConfig.from_dict(json.loads(path.read_text()))
        assert config.setups, path
