"""Your own data as a task in a real browser (issue 16): a three-label CSV the repository does not
ship is uploaded on the Tasks page, checked before anything is written, created, and opened on
Compare with its version; the console shows no error beyond the two explained 404s."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import ARTIFACTS, settled

pytestmark = [pytest.mark.e2e, pytest.mark.integration]
LOAD = 180_000  # ms: the first load may convert the embedded model
TOPICS = {"billing": "I was charged twice for order {n}",
          "shipping": "Parcel {n} has not arrived yet",
          "returns": "How do I send back the shoes from order {n}?"}


def test_a_csv_becomes_a_task_that_compare_offers(lab_and_home, page, tmp_path):
    url, home = lab_and_home
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    csv = tmp_path / "support.csv"
    csv.write_text("ticket,topic\n" + "".join(f"{text.format(n=1000 + i)},{topic}\n"
                                              for i in range(20) for topic, text in TOPICS.items()))
    page.goto(f"{url}/Tasks")
    main = page.locator("[data-testid=stMain]")
    page.locator("input[type=file]").first.wait_for(state="attached", timeout=LOAD)
    page.locator("input[type=file]").first.set_input_files(str(csv))
    main.get_by_text("The exact prompt the model reads").wait_for(timeout=120_000)
    settled(page)
    text = main.inner_text()
    assert "billing 20" in text.replace("\n", " ") or "billing\n20" in text, text[:2000]
    assert not (home / "tasks" / "support").exists()  # nothing written before Create
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "your-task-planned.png"), full_page=True)

    page.get_by_role("button", name="Create task").click()
    main.get_by_text("Created", exact=False).first.wait_for(timeout=120_000)
    settled(page)
    assert (home / "tasks" / "support" / "task.json").is_file()
    assert "support (yours)" in main.inner_text()
    page.screenshot(path=str(ARTIFACTS / "your-task-created.png"), full_page=True)

    page.get_by_role("button", name="Use it in Compare").click()
    main.get_by_text("Task: support (yours)", exact=False).or_(
        main.get_by_text("version", exact=False)).first.wait_for(timeout=LOAD)
    main.get_by_text("it has no more", exact=False).wait_for(timeout=60_000)  # 60 asked, 12 held
    settled(page)
    page.wait_for_timeout(1500)  # the variant pickers draw last
    settled(page)
    picker = main.get_by_role("combobox", name="Task")
    assert "support (yours)" in picker.input_value()
    page.screenshot(path=str(ARTIFACTS / "your-task-compare.png"), full_page=True)
    unexplained = [e for e in errors if "_stcore/health" not in e and "_stcore/host-config" not in e
                   and "404" not in e]
    assert not unexplained, unexplained
