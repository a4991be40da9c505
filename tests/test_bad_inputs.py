"""The bad-input catalogue: what a student can type, upload or pass, on every page and the CLI.

Each case feeds one bad input the way a user would (a widget under AppTest, a flag or a
file to ``python -m core``) and asserts two things a user would notice:

- the message they see names the problem and, where there is one, the fix;
- the lab's data under ``$PROMPTTUNE_HOME`` (history database, few-shot sets, collections,
  runs, comparisons) is byte for byte what it was before: a bad input never half-writes.

The data folder is seeded once (a history entry, a saved few-shot set, a small indexed
collection, a finished training run of another base model) and copied into each test's
own lab folder. ``training-data/`` is left out of the hash on purpose: the Train page
keeps a copy of every upload that reads as examples, which is what it is for.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from core.config import GenerationParams, ModelSpec
from core.generation import Completion
from tests.pages.test_pages import _page

ROOT = Path(__file__).resolve().parent.parent
PLAY, HIST, FS = "pages/1_Playground.py", "pages/2_History.py", "pages/3_Few-shot_builder.py"
KB, TRAIN, CMP = "pages/4_Knowledge.py", "pages/5_Train.py", "pages/7_Compare.py"
NOT_DATA = ("training-data",)  # kept uploads, see the module docstring
OTHER_BASE = "embedded:smollm2-135m-instruct"
CASES: dict[str, Callable] = {}
XFAIL: dict[str, str] = {}


def case(name: str, xfail: str | None = None):
    """Register a catalogue case: a function (lab) -> (what the user saw, expected phrases)."""
    def register(fn):
        CASES[name] = fn
        if xfail:
            XFAIL[name] = xfail
        return fn
    return register


# -- the lab's data, before and after --------------------------------------------------------


def data_hash(home: Path) -> dict[str, str]:
    """sha256 of every file under the lab's data folder, by relative path."""
    found = {}
    for path in sorted(home.rglob("*")):
        rel = path.relative_to(home)
        if path.is_file() and rel.parts[0] not in NOT_DATA:
            found[str(rel)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def _wide_model(folder: Path, tokenizer_from: Path) -> Path:
    """Another tiny base model (wider layers), for an adapter that fits no other base."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_from)
    torch.manual_seed(1)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128,
                         num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1,
                         max_position_embeddings=256, pad_token_id=tokenizer.pad_token_id,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)
    LlamaForCausalLM(config).save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def lab_seed(tmp_path_factory, tiny_model_dir) -> dict:
    """A data folder with something in every store, and files the cases upload or point at."""
    from core import runs
    from core.fewshot import FewShotSet, save_set
    from core.history import record_generation
    from core.knowledge import build_collection
    from core.prompting import Example
    from core.train_config import TrainConfig
    from tests.core.test_adapters import make_lora

    base = tmp_path_factory.mktemp("bad-inputs")
    home = base / "seed-home"
    old = os.environ.get("PROMPTTUNE_HOME")
    os.environ["PROMPTTUNE_HOME"] = str(home)
    try:
        record_generation("The quick brown", GenerationParams(max_new_tokens=4),
                          Completion(" fox jumps", 4, 3, 0.2, "length", "transformers", "tiny"))
        save_set(FewShotSet("sentiment-2", (Example("Great kettle!", "POSITIVE"),
                                            Example("It leaks.", "NEGATIVE")),
                            labels=("POSITIVE", "NEGATIVE")))
        build_collection("notes", {"kettles.md": "# Kettles\n\nThe Ember kettle boils a litre "
                                                 "in 3 minutes. It costs 49 euros."})
        run_dir = runs.create_run(TrainConfig(model=OTHER_BASE, task="review-sentiment"))
        (run_dir / "template.json").write_text(json.dumps(
            {"template": "Review: {text}\nSentiment:", "input_variable": "text"}))
        (run_dir / "metrics.json").write_text(json.dumps({"train_seconds": 60.0}))
        runs.write_status(run_dir, status="succeeded", finished_at="2025-01-01T00:00:00+00:00")
    finally:
        if old is None:
            os.environ.pop("PROMPTTUNE_HOME", None)
        else:
            os.environ["PROMPTTUNE_HOME"] = old
    wide = _wide_model(base / "wide-model", tiny_model_dir)
    return {"home": home, "run_id": run_dir.name,
            "wide_adapter": make_lora(str(wide), base / "wide-adapter", targets=["q_proj"]),
            "empty_dir": (base / "empty-folder").mkdir() or base / "empty-folder"}


class Lab:
    """What a case needs: the tiny model, the seeded ids and a scratch folder."""

    def __init__(self, seed: dict, tiny: Path, long: Path, tmp: Path) -> None:
        self.spec = ModelSpec(source=str(tiny), dtype="float32", engine="transformers")
        self.long_spec = ModelSpec(source=str(long), dtype="float32", engine="transformers")
        self.tiny, self.tmp, self.seed = tiny, tmp, seed

    def file(self, name: str, data: bytes | str) -> str:
        path = self.tmp / name
        path.write_bytes(data.encode() if isinstance(data, str) else data)
        return str(path)

    def cli(self, *args: str, stdin: bytes | None = None) -> str:
        """Run ``python -m core ARGS`` as a user would; exit status 2 and no traceback."""
        done = subprocess.run([sys.executable, "-m", "core", *args], cwd=ROOT, input=stdin,
                              capture_output=True, timeout=120, env=os.environ.copy())
        out = done.stdout.decode(errors="replace") + done.stderr.decode(errors="replace")
        assert "Traceback" not in out, out
        assert done.returncode == 2, (done.returncode, out)
        return out

    def page(self, path: str, spec: ModelSpec | None = None) -> AppTest:
        return _page(path, spec or self.spec)


@pytest.fixture(autouse=True)
def fresh_caches():
    st.cache_resource.clear()
    yield
    st.cache_resource.clear()


def seen(at: AppTest) -> str:
    """Every message the page shows: errors, warnings and notes, main area and sidebar."""
    assert not at.exception, [e.value for e in at.exception]
    parts = [str(e.value) for group in (at.error, at.warning, at.info, at.sidebar.error,
                                        at.sidebar.warning) for e in group]
    return "\n".join(parts)


def upload(at: AppTest, key: str, name: str, data: bytes, mime: str = "text/plain") -> AppTest:
    at.file_uploader(key=key).set_value([(name, data, mime)] if key == "kb_files"
                                        else (name, data, mime)).run()
    return at


FIX = ("fix:",)  # how show_error ("**Fix:**") and the CLI ("fix:") introduce the fix


# -- Few-shot builder: uploads, template, names, window ----------------------------------------


def _fs_upload(lab: Lab, name: str, data: bytes):
    at = upload(lab.page(FS), "fs_upload", name, data)
    return seen(at)


@case("fewshot-upload-empty")
def _(lab):
    return _fs_upload(lab, "examples.csv", b""), ["examples.csv is empty", *FIX]


@case("fewshot-upload-binary")
def _(lab):
    return _fs_upload(lab, "examples.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00IHDR"), \
        ["examples.csv looks binary", "Export the examples as CSV"]


@case("fewshot-upload-not-utf8")
def _(lab):
    return _fs_upload(lab, "examples.csv", "text,label\ncafé crème,POSITIVE\n".encode("latin-1")), \
        ["examples.csv is not UTF-8", "line 2", "Save the file as UTF-8"]


@case("fewshot-upload-huge")
def _(lab):
    row = b"a long but otherwise fine review of a kettle,POSITIVE\n"
    return _fs_upload(lab, "huge.csv", b"text,label\n" + row * (51 * 2**20 // len(row) + 1)), \
        ["huge.csv is 51 MB", "up to 50 MB", "Split the file"]


@case("fewshot-upload-truncated-jsonl")
def _(lab):
    data = b'{"text": "Great kettle!", "label": "POSITIVE"}\n{"text": "It leaks", "lab'
    return _fs_upload(lab, "examples.jsonl", data), \
        ["examples.jsonl, line 2 is not valid JSON", "fix or remove that line"]


@case("fewshot-upload-csv-unnamed-column")
def _(lab):
    return _fs_upload(lab, "examples.csv", b"review,\nGreat kettle!,POSITIVE\n"), \
        ["examples.csv has no header row, or a column without a name", "column names"]


@case("fewshot-upload-json-not-a-list")
def _(lab):
    return _fs_upload(lab, "examples.json", b'{"text": "Great", "label": "POSITIVE"}'), \
        ["must hold a JSON list of objects", *FIX]


def _fs_loaded(lab: Lab) -> AppTest:
    at = lab.page(FS, lab.long_spec)  # four real reviews overflow the tiny model's 256 tokens
    at.number_input(key="fs_n").set_value(6)
    at.button(key="fs_load_task").click().run()
    return at


@case("fewshot-template-unknown-variable")
def _(lab):
    at = _fs_loaded(lab)
    at.text_area(key="fs_template").set_value("Review: {review}\nSentiment:").run()
    return seen(at), ["unknown variable(s): {review}", "Available: {input}"]


@case("fewshot-template-malformed")
def _(lab):
    at = _fs_loaded(lab)
    at.text_area(key="fs_template").set_value("Review: {input\nSentiment:").run()
    return seen(at), ["template is malformed", "double it"]


def _fs_save_as(lab: Lab, name: str) -> str:
    at = _fs_loaded(lab)
    at.text_input(key="fs_name").set_value(name).run()
    at.button(key="fs_save").click().run()
    return seen(at)


@case("fewshot-set-name-parent-dir")
def _(lab):
    return _fs_save_as(lab, "../escaped"), ["'../escaped' is not a usable few-shot set name",
                                           "no '/'"]


@case("fewshot-set-name-absolute-path")
def _(lab):
    return _fs_save_as(lab, "/tmp/escaped"), ["not a usable few-shot set name", *FIX]


@case("fewshot-beyond-context-window")
def _(lab):
    import pandas as pd

    at = lab.page(FS)
    at.session_state["fs_table"] = pd.DataFrame(
        [{"use": True, "order": i, "input": "word " * 150, "label": "POSITIVE"} for i in range(8)])
    at.session_state["fs_table_version"] = 99
    at.selectbox(key="fs_strategy").set_value("manual").run()
    return seen(at), ["tokens but the model reads 256", "Use at most"]


# -- Playground: schema, template, window, settings ---------------------------------------------


def _play(lab: Lab, mode: str, spec: ModelSpec | None = None) -> AppTest:
    at = lab.page(PLAY, spec)
    at.radio(key="play_mode").set_value(mode).run()
    return at


@case("playground-schema-not-json")
def _(lab):
    at = _play(lab, "Structured output")
    at.text_area(key="play_schema").set_value('{"type": "object", properties: {}}').run()
    return seen(at), ["The JSON Schema is not valid JSON", "line 1", "Fix the JSON syntax"]


@case("playground-schema-not-a-schema")
def _(lab):
    at = _play(lab, "Structured output")
    at.text_area(key="play_schema").set_value('{"type": "object", "properties": {"a": {"type": 5}}}').run()
    return seen(at), ["not a valid JSON Schema at properties/a/type", "Correct the schema"]


@case("playground-template-unknown-variable")
def _(lab):
    at = _play(lab, "Zero-shot")
    at.text_area(key="play_template").set_value("Review: {review}\nSentiment:").run()
    return seen(at), ["unknown variable(s): {review}", "Available: {input}"]


@case("playground-prompt-beyond-context-window")
def _(lab):
    at = lab.page(PLAY)
    at.text_area(key="play_prompt").set_value("The quick brown fox jumps. " * 120).run()
    at.button(key="play_run").click().run()
    return seen(at), ["reads at most 256 tokens in all", "Shorten the prompt by"]


@case("playground-max-new-tokens-beyond-window")
def _(lab):
    at = lab.page(PLAY)
    at.number_input(key="play_max_new").set_value(4000)
    at.button(key="play_run").click().run()
    return seen(at), ["asks for 4000 new ones", "lower max new tokens"]


# -- model names and folders (the sidebar every page shows) ---------------------------------------


def _sidebar_model(lab: Lab, source: str) -> str:
    at = lab.page(PLAY)
    at.text_input(key="sidebar_model_source").set_value(source).run()
    return seen(at)


@case("sidebar-hub-id-offline")
def _(lab):
    return _sidebar_model(lab, "nobody-here/no-such-model"), \
        ["not in the local Hugging Face cache and the Hub cannot be reached", "local folder"]


@case("sidebar-folder-without-model")
def _(lab):
    return _sidebar_model(lab, str(lab.seed["empty_dir"])), \
        ["holds no model: config.json is missing", "save_pretrained"]


@case("sidebar-folder-missing")
def _(lab):
    return _sidebar_model(lab, str(lab.tmp / "no-such-folder")), ["does not exist", *FIX]


@case("sidebar-adapter-for-another-base")
def _(lab):
    at = lab.page(PLAY)
    at.text_input(key="sidebar_adapter").set_value(lab.seed["wide_adapter"]).run()
    return seen(at), ["does not fit this model", "base model it was trained on"]


@case("sidebar-adapter-folder-without-adapter")
def _(lab):
    at = lab.page(PLAY)
    at.text_input(key="sidebar_adapter").set_value(str(lab.seed["empty_dir"])).run()
    return seen(at), ["holds no PEFT adapter", "training run saved its adapter"]


# -- Knowledge: documents, names, chunk settings ------------------------------------------------


def _kb_add(lab: Lab, name: str, data: bytes, mime: str = "text/plain", new: str = "") -> str:
    at = lab.page(KB)
    if new:
        at.text_input(key="kb_new").set_value(new)
    upload(at, "kb_files", name, data, mime)
    at.button(key="kb_add").click().run()
    return seen(at)


def _blank_pdf() -> bytes:
    import io

    from pypdf import PdfWriter

    writer, out = PdfWriter(), io.BytesIO()
    writer.add_blank_page(width=595, height=842)
    writer.write(out)
    return out.getvalue()


@case("knowledge-empty-file")
def _(lab):
    return _kb_add(lab, "empty.md", b"   \n"), ["empty.md is empty", "Nothing was added", *FIX]


@case("knowledge-binary-file")
def _(lab):
    return _kb_add(lab, "photo.txt", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00"), \
        ["photo.txt is binary", "Upload the document as text"]


@case("knowledge-not-utf8")
def _(lab):
    return _kb_add(lab, "menu.txt", "Crème brûlée: 7 €".encode("cp1252")), \
        ["menu.txt is not UTF-8 text", "Save it as UTF-8"]


@case("knowledge-huge-file")
def _(lab):
    return _kb_add(lab, "huge.txt", b"kettle " * (21 * 2**20 // 7 + 1)), \
        ["huge.txt is 21 MB", "up to 20 MB", "Split it"]


@case("knowledge-pdf-without-text-layer")
def _(lab):
    return _kb_add(lab, "scan.pdf", _blank_pdf(), "application/pdf"), \
        ["scan.pdf has no text layer", "OCR"]


@case("knowledge-pdf-truncated")
def _(lab):
    return _kb_add(lab, "cut.pdf", _blank_pdf()[:120], "application/pdf"), \
        ["cut.pdf is not a readable PDF", "re-save"]


@case("knowledge-collection-name-with-separators")
def _(lab):
    return _kb_add(lab, "ok.md", b"# Tea\n\nGreen tea brews at 80 degrees.", new="../../escaped"), \
        ["'../../escaped' is not a usable collection name", "no '/'"]


@case("knowledge-chunk-overlap-out-of-range")
def _(lab):
    at = lab.page(KB)
    at.number_input(key="kb_size").set_value(200)
    at.number_input(key="kb_overlap").set_value(150)
    upload(at, "kb_files", "ok.md", b"# Tea\n\nGreen tea brews at 80 degrees.")
    at.button(key="kb_add").click().run()
    return seen(at), ["Chunk overlap must be 0 to half the chunk size (100), got 150", *FIX]


# -- History: a search is text, never SQL -------------------------------------------------------


@case("history-search-sql-injection")
def _(lab):
    at = lab.page(HIST)
    at.text_input(key="hist_search").set_value("'; DROP TABLE generations; --").run()
    return seen(at), ["No saved answer contains \"'; DROP TABLE generations; --\""]


# -- Compare: variants and runs ------------------------------------------------------------------


@case("compare-no-variant")
def _(lab):
    at = lab.page(CMP)
    at.multiselect(key="cmp_basic").set_value([]).run()
    at.button(key="cmp_run").click().run()
    return seen(at), ["No variant is selected", "Pick at least one variant"]


@case("compare-adapter-for-another-base")
def _(lab):
    at = lab.page(CMP)
    at.multiselect(key="cmp_runs").set_value([lab.seed["run_id"]]).run()
    at.button(key="cmp_run").click().run()
    return seen(at), [f"tuned {OTHER_BASE}, but this comparison uses", f"Set the comparison's model to {OTHER_BASE}"]


# -- Train page: data and values (the page and core.training belong to other engineers) ----------


@case("train-upload-not-utf8")
def _(lab):
    at = lab.page(TRAIN)
    at.radio(key="train_source").set_value(at.radio(key="train_source").options[1]).run()
    upload(at, "train_upload", "reviews.csv", "text,label\nsoupe trop salée,NEGATIVE\n".encode("latin-1"))
    return seen(at), ["reviews.csv is not UTF-8", "Save the file as UTF-8"]


@case("train-upload-misnamed-columns")
def _(lab):
    at = lab.page(TRAIN)
    at.radio(key="train_source").set_value(at.radio(key="train_source").options[1]).run()
    upload(at, "train_upload", "reviews.csv",
           b"review,mood\nGreat kettle!,POSITIVE\nIt leaks.,NEGATIVE\n" * 5)
    return seen(at), ["column", "reviews.csv", *FIX]


@case("train-hub-dataset-offline")
def _(lab):
    at = lab.page(TRAIN)
    at.radio(key="train_source").set_value(at.radio(key="train_source").options[2]).run()
    at.text_input(key="train_hub_name").set_value("nobody-here/no-such-dataset")
    at.button(key="train_hub_fetch").click().run()
    return seen(at), ["the Hugging Face Hub cannot be reached", "Upload the examples"]


@case("train-lora-rank-zero")
def _(lab):
    at = lab.page(TRAIN)
    at.number_input(key="train_lora_r").set_value(0).run()
    return seen(at), ["lora_r", *FIX]


@case("train-max-length-beyond-window")
def _(lab):
    at = lab.page(TRAIN)
    at.number_input(key="train_max_len").set_value(100_000).run()
    return seen(at), ["max_length 100000 is beyond the context window", *FIX]


# -- the CLI --------------------------------------------------------------------------------------


@case("cli-temperature-out-of-range")
def _(lab):
    return lab.cli("generate", "hi", "--model", str(lab.tiny), "--temperature", "9"), \
        ["error: temperature must be between 0.0 and 5.0, got 9.0", "fix: Choose a value"]


@case("cli-top-p-zero")
def _(lab):
    return lab.cli("generate", "hi", "--model", str(lab.tiny), "--top-p", "0"), \
        ["error: top_p must be above 0", "fix:"]


@case("cli-max-new-tokens-wrong-type")
def _(lab):
    return lab.cli("generate", "hi", "--max-new-tokens", "many"), \
        ["argument --max-new-tokens: invalid int value: 'many'", "usage:"]


@case("cli-model-folder-without-model")
def _(lab):
    return lab.cli("generate", "hi", "--model", str(lab.seed["empty_dir"])), \
        ["holds no model: config.json is missing", "fix:"]


@case("cli-hub-id-offline")
def _(lab):
    return lab.cli("generate", "hi", "--model", "nobody-here/no-such-model"), \
        ["the Hub cannot be reached", "fix:"]


@case("cli-schema-not-json")
def _(lab):
    schema = lab.file("schema.json", "{'type': 'object'}")
    return lab.cli("generate", "hi", "--model", str(lab.tiny), "--json-schema", schema), \
        ["error: The JSON Schema is not valid JSON", "fix: Fix the JSON syntax"]


@case("cli-schema-not-a-schema")
def _(lab):
    schema = lab.file("schema.json", '{"type": "objekt"}')
    return lab.cli("generate", "hi", "--model", str(lab.tiny), "--json-schema", schema), \
        ["error: The schema is not a valid JSON Schema at type", "fix:"]


@case("cli-schema-file-binary")
def _(lab):
    schema = lab.file("schema.json", b"\xff\xfe\x00{\x00")
    return lab.cli("generate", "hi", "--model", str(lab.tiny), "--json-schema", schema), \
        ["Could not read the JSON Schema file", "fix: Give the path of a UTF-8 text file"]


@case("cli-prompt-beyond-context-window")
def _(lab):
    return lab.cli("generate", "The quick brown fox jumps. " * 120, "--model", str(lab.tiny),
                   "--engine", "transformers", "--dtype", "float32"), \
        ["reads at most 256 tokens in all", "fix: Shorten the prompt"]


@case("cli-stdin-not-utf8")
def _(lab):
    return lab.cli("generate", "-", "--model", str(lab.tiny), stdin="soupe salée".encode("latin-1")), \
        ["not UTF-8", "fix:"]


@case("cli-adapter-for-another-base")
def _(lab):
    return lab.cli("generate", "hi", "--model", str(lab.tiny), "--engine", "transformers",
                   "--adapter", lab.seed["wide_adapter"]), \
        ["does not fit this model", "fix: Load it on the base model it was trained on"]


@case("cli-compare-config-not-json")
def _(lab):
    return lab.cli("compare", lab.file("compare.json", "task: review-sentiment\n")), \
        ["is not a valid comparison config", "fix:"]


@case("cli-compare-wrong-type")
def _(lab):
    config = {"task": "review-sentiment", "variants": [{"name": "zs", "kind": "zero-shot"}],
              "n_examples": "ten", "model": str(lab.tiny)}
    return lab.cli("compare", lab.file("compare.json", json.dumps(config))), \
        ["Examples must be 5 to 2000, got 'ten'", "fix:"]


@case("cli-compare-no-variant")
def _(lab):
    config = {"task": "review-sentiment", "variants": [], "model": str(lab.tiny)}
    return lab.cli("compare", lab.file("compare.json", json.dumps(config))), \
        ["No variant is selected", "fix:"]


@case("cli-compare-run-id-with-separators")
def _(lab):
    config = {"task": "review-sentiment", "model": str(lab.tiny), "n_examples": 5,
              "variants": [{"name": "tuned", "kind": "fine-tuned", "run_id": "../../etc"}]}
    return lab.cli("compare", lab.file("compare.json", json.dumps(config))), \
        ["There is no training run '../../etc'", "fix:"]


@case("cli-compare-set-name-with-separators")
def _(lab):
    config = {"task": "review-sentiment", "model": str(lab.tiny), "n_examples": 5,
              "variants": [{"name": "set", "kind": "few-shot", "fewshot_set": "../fewshot/x"}]}
    return lab.cli("compare", lab.file("compare.json", json.dumps(config))), \
        ["not a usable few-shot set name", "fix:"]


@case("cli-train-config-bad-values")
def _(lab):
    config = lab.file("train.json", json.dumps({"lora_r": 0, "model": str(lab.tiny)}))
    return lab.cli("train", config), ["lora_r", "fix:"]


@case("cli-train-config-wrong-type")
def _(lab):
    config = lab.file("train.json", json.dumps({"batch_size": "eight", "model": str(lab.tiny)}))
    return lab.cli("train", config), ["batch_size", "fix:"]


@case("cli-train-config-not-json")
def _(lab):
    return lab.cli("train", lab.file("train.json", '{"lora_r": 8,')), ["is not valid JSON", "fix:"]


@case("cli-history-limit-wrong-type")
def _(lab):
    return lab.cli("history", "--limit", "ten"), ["argument --limit: invalid int value: 'ten'",
                                                 "usage:"]


# the outside tester's cases (issue 15), one module per area, registered by importing them
from tests import (bad_inputs_cli, bad_inputs_collections, bad_inputs_compare,  # noqa: E402,F401
                   bad_inputs_review, bad_inputs_tasks, bad_inputs_training, bad_inputs_uploads)

# -- the one test ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.xfail(reason=XFAIL[n], strict=True))
                                  if n in XFAIL else n for n in CASES])
def test_bad_input_is_named_and_the_lab_data_is_unchanged(name, lab_seed, lab_home, tmp_path,
                                                          tiny_model_dir, tiny_long_model_dir):
    shutil.copytree(lab_seed["home"], lab_home)
    before = data_hash(lab_home)
    assert {"lab.db", "fewshot/sentiment-2.json", "collections/notes/index.faiss"} <= set(before)
    message, expected = CASES[name](Lab(lab_seed, tiny_model_dir, tiny_long_model_dir,
                                                     tmp_path))
    missing = [phrase for phrase in expected if phrase.lower() not in message.lower()]
    assert not missing, f"the user saw:\n{message}\n\nbut not: {missing}"
    assert data_hash(lab_home) == before, "a bad input changed the lab's data"


def test_the_catalogue_covers_every_page_and_the_cli():
    prefixes = {n.split("-")[0] for n in CASES}
    assert len(CASES) >= 30
    assert {"fewshot", "playground", "sidebar", "knowledge", "history", "compare", "train",
            "cli"} <= prefixes
