"""Safe by default: what a lab started with no options exposes, runs, loads and renders.

- the server listens on 127.0.0.1 only, and a connection to the machine's own network
  address is refused; .streamlit/config.toml keeps the address, an upload limit and
  XSRF protection;
- a model's repository code never runs unless the user ticks Trust remote code;
- nothing in the code base unpickles a file (pickle, torch.load without weights_only=True);
- model output and uploaded text are shown as text, never as HTML or markdown that
  loads something: in the Playground, the Knowledge page and the HTML report;
- run, few-shot set, collection and comparison names cannot reach outside the data folder.
"""

from __future__ import annotations

import copy
import re
import socket
import tomllib
from pathlib import Path

import psutil
import pytest

from core.config import ModelSpec
from core.errors import LabError
from tests.e2e.conftest import _free_port, start_lab
from tests.pages.test_pages import _page, fresh_caches  # noqa: F401 - fixture

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = "<script>alert(1)</script>"
IMAGE = "![x](http://evil/x.png)"
PAYLOAD = f"Review: {SCRIPT} {IMAGE} the kettle leaks"
CODE = [ROOT / "app.py", *sorted((ROOT / "core").glob("*.py")), *sorted((ROOT / "ui").glob("*.py")),
        *sorted((ROOT / "pages").glob("*.py")), *sorted((ROOT / "bench").glob("*.py"))]


# -- the server ----------------------------------------------------------------------------------


def _outside_addresses() -> list[str]:
    """This machine's IPv4 addresses other than loopback: where another machine would connect."""
    return [a.address for addrs in psutil.net_if_addrs().values() for a in addrs
            if a.family == socket.AF_INET and not a.address.startswith("127.")]


@pytest.fixture(scope="module")
def lab_server(tmp_path_factory):
    """`streamlit run app.py` with no options but a port, as ./lab.sh start runs it."""
    port = _free_port()
    server = start_lab(port, tmp_path_factory.mktemp("safety-log") / "streamlit.log",
                       tmp_path_factory.mktemp("safety-home"))
    yield server, port
    server.terminate()
    server.wait(timeout=20)


def test_the_server_listens_on_localhost_only(lab_server):
    server, port = lab_server
    listening = [c.laddr.ip for c in psutil.Process(server.pid).net_connections(kind="inet")
                 if c.status == psutil.CONN_LISTEN and c.laddr.port == port]
    assert listening and set(listening) == {"127.0.0.1"}, listening


def test_a_connection_from_the_network_address_is_refused(lab_server):
    _, port = lab_server
    outside = _outside_addresses()
    if not outside:
        pytest.skip("this machine has no network address besides loopback")
    for address in outside:
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((address, port), timeout=3).close()


def test_config_keeps_the_address_an_upload_limit_and_xsrf_protection():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    server = config["server"]
    assert server["address"] == "127.0.0.1"
    assert 0 < server["maxUploadSize"] <= 200
    assert server.get("enableXsrfProtection", True) is True
    assert server.get("enableCORS", True) is True


# -- running and loading code ------------------------------------------------------------------


def test_trust_remote_code_is_off_unless_ticked(tiny_model_dir):
    from core.cli import build_parser

    assert ModelSpec().trust_remote_code is False
    assert build_parser().parse_args(["generate", "hi"]).trust_remote_code is False
    at = _page("pages/1_Playground.py", ModelSpec(source=str(tiny_model_dir), dtype="float32"))
    assert not at.exception, at.exception
    assert at.checkbox(key="sidebar_trust").value is False
    assert at.session_state["lab_model_spec"].trust_remote_code is False
    # nothing in the code base turns it on by itself
    for path in CODE:
        assert "trust_remote_code=True" not in path.read_text(), path


def test_nothing_unpickles_a_file():
    risky = re.compile(r"\bpickle\.loads?\(|\bjoblib\.load\(|\bdill\.loads?\(|allow_pickle\s*=\s*True"
                       r"|torch\.load\((?![^)]*weights_only\s*=\s*True)")
    found = [f"{p.relative_to(ROOT)}:{n}: {line.strip()}" for p in CODE
             for n, line in enumerate(p.read_text().splitlines(), 1) if risky.search(line)]
    assert not found, found
    # and the models are read as safetensors only
    assert "use_safetensors=True" in (ROOT / "core" / "models.py").read_text()


def test_no_page_renders_raw_html_except_the_escaped_passages():
    for path in CODE:
        text = path.read_text()
        assert "unsafe_allow_html=True" not in text, path
        if "st.html(" in text:
            assert path.name == "knowledge.py" and "highlight(" in text, path


# -- rendering what a model wrote or a user uploaded --------------------------------------------


def _markup(at) -> str:
    """Every element the browser reads as markdown (HTML blocks are checked on their own)."""
    parts = [e.value for e in at.markdown] + [e.value for e in at.caption]
    parts += [str(e.value) for group in (at.error, at.warning, at.info, at.success) for e in group]
    return "\n".join(parts)


def test_playground_shows_prompt_and_answer_as_text_never_markup(tiny_model_dir):
    from core.history import list_generations

    at = _page("pages/1_Playground.py", ModelSpec(source=str(tiny_model_dir), dtype="float32"))
    at.text_area(key="play_prompt").set_value(PAYLOAD)
    at.number_input(key="play_max_new").set_value(8)
    at.button(key="play_run").click().run()
    assert not at.exception, at.exception
    [saved] = list_generations()
    shown_as_code = [c.value for c in at.code]
    assert PAYLOAD in shown_as_code  # the exact text the model sees
    assert (saved.output or " ") in shown_as_code  # the answer: st.code, plain text
    markup = _markup(at)
    assert SCRIPT not in markup and IMAGE not in markup and "http://evil" not in markup
    assert not at.get("html")

    at.switch_page("pages/2_History.py").run()  # the saved answer, reopened
    assert not at.exception, at.exception
    assert PAYLOAD in [c.value for c in at.code]
    assert "http://evil" not in _markup(at)


def test_highlighted_passages_escape_html():
    from ui.knowledge import highlight

    marked = highlight(PAYLOAD + " Tom & Jerry", "kettle script amp")
    assert "<script" not in marked and "&lt;<mark>script</mark>&gt;" in marked
    assert "<mark>kettle</mark>" in marked and "Tom &amp; Jerry" in marked  # entities intact
    assert "<img" not in marked


def test_knowledge_page_shows_uploaded_html_and_markdown_as_text(tiny_model_dir):
    from core.knowledge import build_collection

    build_collection("evil", {f"{IMAGE}.md": f"# Kettles {IMAGE}\n\n{PAYLOAD}. It boils fast."})
    at = _page("pages/4_Knowledge.py", ModelSpec(source=str(tiny_model_dir), dtype="float32"))
    at.selectbox(key="kb_collection").set_value("evil")
    at.text_input(key="kb_question").set_value("Does the kettle leak?").run()
    assert not at.exception, at.exception
    bodies = [h.proto.body for h in at.get("html")]  # HTML: markdown is inert there
    assert bodies and all("&lt;script&gt;" in b and "<script" not in b and "<img" not in b
                          for b in bodies)
    markup = _markup(at)  # the passage's file name and heading: escaped markdown
    assert "Kettles" in markup and SCRIPT not in markup and IMAGE not in markup


def test_the_report_escapes_inputs_and_outputs(tmp_path):
    from core.report import html_report

    results = _report_results()
    example = results["examples"][0]
    example["input"] = PAYLOAD
    for output in example["outputs"].values():
        output["prediction"] = output["raw"] = PAYLOAD
    results["variants"][0]["name"] = f"zs {SCRIPT}{IMAGE}"
    results["config"]["variants"][0]["name"] = f"zs {SCRIPT}{IMAGE}"
    results["variants"][-1]["error"] = PAYLOAD
    results["task"]["title"] = PAYLOAD
    report = html_report(results)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in report
    assert "<script>alert(1)" not in report
    assert '<img src="http://evil' not in report and "<img" not in report.replace("<img src=\"data:", "")


def _report_results() -> dict:
    """The report tests' results, built the way their fixture builds them."""
    import tests.core.test_report as report_tests

    fixture = report_tests.results
    build = getattr(fixture, "_get_wrapped_function", None)
    return copy.deepcopy(build()() if build else fixture())


# -- names ---------------------------------------------------------------------------------------

ESCAPES = ["../outside", "../../outside", "/tmp/outside", "a/b", "..", ".hidden", "", "a\x00b"]


def _attempts(name: str):
    from core import compare_runs, fewshot, knowledge, runs
    from core.prompting import Example

    yield lambda: fewshot.save_set(fewshot.FewShotSet(name, (Example("x", "POSITIVE"),)))
    yield lambda: fewshot.load_set(name)
    yield lambda: fewshot.delete_set(name)
    yield lambda: knowledge.build_collection(name, {"a.txt": "some text"})
    yield lambda: knowledge.delete_collection(name)
    yield lambda: knowledge.collection_info(name)
    yield lambda: runs.get_run(name)
    yield lambda: runs.delete_run(name)
    yield lambda: compare_runs.get_comparison(name)
    yield lambda: compare_runs.load_results(name)
    yield lambda: compare_runs.cancel_comparison(name)


def _files(folder: Path) -> set[str]:
    """Every file under ``folder``, but the lab's database, which any lookup may open."""
    return {str(p.relative_to(folder)) for p in folder.rglob("*")
            if p.is_file() and not p.name.startswith("lab.db")}


@pytest.mark.parametrize("name", ESCAPES)
def test_names_cannot_escape_the_data_folder(name, lab_home, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("mine")
    (tmp_path / "outside.json").write_text("{}")
    before = _files(tmp_path)
    for attempt in _attempts(name):
        with pytest.raises(LabError):
            attempt()
    assert _files(tmp_path) == before
    assert (outside / "keep.txt").read_text() == "mine"
