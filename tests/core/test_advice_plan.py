"""The advisor's plan: its config, its points, their order, keys, train configs and the budget.

No model loads here: the engine measurement (``core.advice_eta.measure``) and the training
estimate (``core.train_model.estimate``) are replaced by fixed figures, so the planner's own logic
is what is tested; the one integration test measures the real embedded model.
"""

from __future__ import annotations

import json

import pytest

from core import advice_config
from core import advice_eta as eta
from core import advice_plan as ap
from core.advice_plan import AdviceConfig, Plan, Point
from core.errors import ConfigError, LabError
from core.tasks import load_task
from core.train_config import preset
from tests.core.test_import_graph import core_graph


def fake_measure(window: int | None = 32768, rate: float = 2e9, engine: str = "transformers"):
    return eta.Measure(engine, window, lambda text: max(1, len(text) // 4), rate,
                      100_000_000, 170_000_000, 5.0)


@pytest.fixture
def fixed(monkeypatch):
    """The measurement and the training estimate as fixed figures; returns a setter."""
    state = {"measure": fake_measure(), "step_s": 2.0, "calls": 0}

    def estimate(config):
        state["calls"] += 1
        return 12.0 + config.max_steps * state["step_s"], 0

    monkeypatch.setattr(eta, "measure", lambda *a, **k: state["measure"])
    monkeypatch.setattr("core.train_model.estimate", estimate)
    return state


# -- the budget and the config ------------------------------------------------------------------


@pytest.mark.parametrize("text, seconds", [("quick", 600), ("thorough", 3600), ("none", None),
                                           ("10m", 600), ("90s", 90), ("1.5h", 5400),
                                           (" 2 min ", 120)])
def test_budgets_read_words_and_times(text, seconds):
    assert ap.parse_budget(text) == seconds


@pytest.mark.parametrize("text, words", [("soon", "Unknown budget"), ("30s", "1 minute"),
                                         ("25h", "24 hours"), ("", "Unknown budget")])
def test_bad_budgets_are_refused_with_the_forms_that_work(text, words):
    with pytest.raises(ConfigError) as err:
        ap.parse_budget(text)
    assert words in err.value.problem and err.value.fix


@pytest.mark.parametrize("settings, words", [
    ({"task": "no-such-task"}, "no-such-task"),
    ({"budget": "later"}, "budget"),
    ({"n_examples": 4}, "n_examples"),
    ({"shots": (0, 4, 4)}, "shots lists a value twice"),
    ({"shots": (0, 65)}, "shots must list"),
    ({"shots": ()}, "shots must list"),
    ({"rows": (-1, 0)}, "rows must be"),
    ({"seeds": 11}, "seeds"),
    ({"seed": -1}, "seed"),
    ({"train": {"lora_rank": 8}}, "lora_rank"),
    ({"train": {"seed": 3}}, "train sets seed"),
    ({"train": {"lora_r": 0}}, "train: lora_r"),
    ({"shots": "4"}, "shots"),
    ({"prices": {"gpu_hours": 1.0}}, "gpu_hours"),
])
def test_config_refuses_bad_settings_naming_the_field(settings, words):
    with pytest.raises(ConfigError) as err:
        AdviceConfig(**{"task": "review-sentiment", **settings})
    assert words in err.value.problem
    assert err.value.fix


def test_unknown_task_lists_the_tasks_there_are():
    with pytest.raises(ConfigError) as err:
        AdviceConfig("no-such-task")
    assert "review-sentiment" in err.value.fix


def test_config_round_trips_through_json_and_sorts_its_lists():
    config = AdviceConfig("review-sentiment", budget="thorough", n_examples=80, shots=[4, 0, 2],
                          rows=[0, 100, 25], seeds=2, hybrids=False, seed=7,
                          prices={"cpu_hour": 0.1}, train={"lora_r": 8})
    assert config.shots == (0, 2, 4) and config.rows == (25, 100, 0)
    again = AdviceConfig.from_dict(json.loads(json.dumps(config.to_dict())))
    assert again == config and again.prices.cpu_hour == 0.1


def test_unknown_keys_are_refused_naming_the_known_ones():
    with pytest.raises(ConfigError) as err:
        AdviceConfig.from_dict({"task": "review-sentiment", "budjet": "quick"})
    assert "budjet" in err.value.problem and "budget" in err.value.fix
    with pytest.raises(ConfigError):
        AdviceConfig.from_dict({"budget": "quick"})
    with pytest.raises(ConfigError):
        AdviceConfig.from_dict(["review-sentiment"])


def test_budgets_set_the_test_rows_and_the_repeats():
    quick, thorough = AdviceConfig("review-sentiment"), AdviceConfig("review-sentiment", "1h")
    unlimited = AdviceConfig("review-sentiment", "none")
    assert (quick.budget_s, quick.examples(), quick.repeats()) == (600, 60, 1)
    assert (thorough.budget_s, thorough.examples(), thorough.repeats()) == (3600, 150, 3)
    assert unlimited.budget_s is None and unlimited.examples() == 150  # all its test rows
    assert AdviceConfig("review-sentiment", n_examples=20, seeds=2).examples() == 20


# -- points ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("point, name, labelled, family", [
    (Point("prompt"), "zero-shot", 0, "prompted"),
    (Point("prompt", shots=4, seed=1), "4-shot (draw 2)", 4, "prompted"),
    (Point("prompt", calibrate=True), "calibrated zero-shot", 0, "prompted"),
    (Point("prompt", retrieval=True), "retrieval", 0, "retrieval"),
    (Point("tuned", rows=50), "LoRA 50 rows", 50, "tuned"),
    (Point("tuned", rows=50, seed=1), "LoRA 50 rows (seed 1)", 50, "tuned"),
    (Point("hybrid", shots=4, rows=300), "LoRA 300 rows + 4-shot", 304, "hybrid"),
    (Point("hybrid", rows=300, retrieval=True), "LoRA 300 rows + retrieval", 300, "hybrid"),
])
def test_points_say_what_they_are(point, name, labelled, family):
    assert (point.name, point.labelled, point.family) == (name, labelled, family)
    assert Point.from_dict(json.loads(json.dumps(point.to_dict()))) == point


@pytest.mark.parametrize("settings", [
    {"kind": "finetune"}, {"kind": "prompt", "rows": 5}, {"kind": "tuned"},
    {"kind": "tuned", "rows": 5, "shots": 2}, {"kind": "hybrid", "rows": 5},
    {"kind": "tuned", "rows": 5, "calibrate": True}, {"kind": "prompt", "seed": 1},
    {"kind": "prompt", "shots": 65}, {"kind": "prompt", "shots": "4"},
])
def test_impossible_points_are_refused(settings):
    with pytest.raises(ConfigError):
        Point(**settings)


# -- the modules ----------------------------------------------------------------------------------


def test_the_advisor_modules_are_layered_and_keep_their_old_names():
    """config <- eta <- plan, no circle; what pages, the CLI and the sweep import from
    core.advice_plan is still there, and is the object where it now lives."""
    graph = core_graph()
    assert {"core.advice_plan", "core.advice_eta"}.isdisjoint(graph["core.advice_config"])
    assert "core.advice_plan" not in graph["core.advice_eta"]
    for name in ("AdviceConfig", "Point", "parse_budget", "train_config", "steps_for"):
        assert getattr(ap, name) is getattr(advice_config, name)
    for name in ("Measure", "measure", "estimate_point"):
        assert getattr(ap, name) is getattr(eta, name)
    assert set(ap.__all__) <= set(dir(ap))


# -- candidates -----------------------------------------------------------------------------------

QUICK_ORDER = ["zero-shot", "4-shot", "LoRA 300 rows", "LoRA 50 rows", "1-shot", "2-shot",
               "8-shot", "LoRA 100 rows", "LoRA 25 rows", "LoRA 200 rows",
               "calibrated zero-shot", "LoRA 300 rows + 4-shot"]


def test_candidates_come_cheap_and_informative_first(fixed):
    points = ap.candidate_points(AdviceConfig("review-sentiment"), load_task("review-sentiment"))
    assert [p.name for p in points] == QUICK_ORDER


def test_thorough_repeats_tuned_all_rows_and_four_shots_first(fixed):
    config = AdviceConfig("review-sentiment", "thorough", hybrids=False)
    names = [p.name for p in ap.candidate_points(config, load_task("review-sentiment"))]
    assert names[len(QUICK_ORDER) - 1:len(QUICK_ORDER) + 3] == [
        "LoRA 300 rows (seed 1)", "4-shot (draw 2)", "LoRA 50 rows (seed 1)", "1-shot (draw 2)"]
    assert names.count("LoRA 25 rows (seed 2)") == 1 and "zero-shot (draw 2)" not in names
    assert len(names) == 11 + 2 * 9  # 9 repeatable points (4 shot counts, 5 row counts), 2 more


def test_rows_resolve_to_the_train_split_and_larger_ones_are_left_out(fixed):
    config = AdviceConfig("shop-math", rows=(25, 50, 0, 40))
    task = load_task("shop-math")
    points, left = ap._candidates(config, task, {})
    tuned = [p.name for p in points if p.kind == "tuned"]
    assert tuned == ["LoRA 40 rows", "LoRA 25 rows"]  # 0 = all = 40, and 40 given again: once
    assert [(p.rows, why) for p, why in left] == [(50, "the task has only 40 training rows")]
    assert "calibrated zero-shot" not in [p.name for p in points]  # numbers have no labels


def test_shots_that_overflow_the_context_are_left_out_saying_so(fixed):
    fixed["measure"] = fake_measure(window=130)
    config = AdviceConfig("review-sentiment", hybrids=False)
    result = ap.plan(config)
    names = [p.point.name for p in result.points]
    reasons = dict((p.name, why) for p, why in result.left_out)
    assert "8-shot" not in names and "zero-shot" in names
    assert reasons["8-shot"] == "8 shots do not fit the 130-token context"


def test_a_task_without_a_train_split_is_refused_with_a_fix(fixed):
    with pytest.raises(ConfigError) as err:
        ap.plan(AdviceConfig("handbook-qa"))
    assert "no train split" in err.value.problem and "Compare" in err.value.fix


# -- what each point trains and evaluates ---------------------------------------------------------


def test_train_config_is_the_live_demo_preset_on_the_points_rows():
    config = AdviceConfig("review-sentiment", seed=5, train={"lora_r": 8})
    task, base = load_task("review-sentiment"), preset("live-demo")
    run = ap.train_config(config, task, Point("tuned", rows=50, seed=1))
    assert (run.task, run.model, run.seed, run.max_train_examples) == (
        "review-sentiment", config.model, 6, 50)
    assert run.validation_split is None and run.validation_fraction == 0.0
    assert run.lora_r == 8 and run.learning_rate == base.learning_rate
    assert run.max_steps == ap.steps_for(50, base) and run.name.endswith("LoRA 50 rows (seed 1)")
    hybrid = ap.train_config(config, task, Point("hybrid", shots=4, rows=50, seed=1))
    assert hybrid == run  # a hybrid evaluates its tuned point's run
    with pytest.raises(ConfigError):
        ap.train_config(config, task, Point("prompt", shots=4))


def test_steps_cover_about_three_passes_within_the_preset():
    base = preset("live-demo")
    assert ap.steps_for(1, base) == 12
    assert ap.steps_for(50, base) == min(base.max_steps, 19)
    assert ap.steps_for(100_000, base) == base.max_steps


def test_a_long_task_name_still_gives_a_run_name_that_fits():
    config = AdviceConfig("review-sentiment")
    task = load_task("review-sentiment")
    long = type(task)(**{**task.__dict__, "name": "x" * 64})
    assert len(ap.train_config(config, long, Point("tuned", rows=25)).name) <= 60


def test_setups_are_named_after_their_points():
    config, task = AdviceConfig("review-sentiment"), load_task("review-sentiment")
    four = ap.setup_for(config, task, Point("prompt", shots=4))
    assert (four.name, four.prompt.technique, four.prompt.shots, four.run_id) == (
        "4-shot", "few-shot", 4, None)
    calibrated = ap.setup_for(config, task, Point("prompt", calibrate=True))
    assert calibrated.prompt.calibrate and calibrated.prompt.technique == "zero-shot"
    hybrid = ap.setup_for(config, task, Point("hybrid", shots=4, rows=300), run_id="r1")
    assert (hybrid.name, hybrid.run_id, hybrid.prompt.shots) == ("LoRA 300 rows + 4-shot",
                                                                  "r1", 4)
    with pytest.raises(ConfigError):
        ap.setup_for(config, task, Point("tuned", rows=50))  # no run yet
    with pytest.raises(ConfigError):
        ap.setup_for(config, task, Point("prompt", retrieval=True))  # no collection
    math = load_task("shop-math")
    with pytest.raises(ConfigError):
        ap.setup_for(AdviceConfig("shop-math"), math, Point("prompt", calibrate=True))


def test_each_draw_is_evaluated_with_its_own_seed_on_the_same_rows():
    config, task = AdviceConfig("review-sentiment", seed=3), load_task("review-sentiment")
    first = ap.compare_config(config, task, Point("prompt", shots=4))
    second = ap.compare_config(config, task, Point("prompt", shots=4, seed=1))
    tuned = ap.compare_config(config, task, Point("tuned", rows=50, seed=1), run_id="r1")
    assert (first.seed, second.seed, tuned.seed) == (3, 4, 3)
    assert first.n_examples == second.n_examples == tuned.n_examples == 60


def test_keys_are_stable_and_change_with_what_decides_the_result():
    task = load_task("review-sentiment")
    config = AdviceConfig("review-sentiment")
    tuned = Point("tuned", rows=50)
    key = ap.point_key(config, task, tuned)
    assert key == ap.point_key(AdviceConfig("review-sentiment"), task, Point("tuned", rows=50))
    assert len(key) == 64 and int(key, 16) >= 0
    others = {ap.point_key(AdviceConfig("review-sentiment", n_examples=61), task, tuned),
              ap.point_key(AdviceConfig("review-sentiment", seed=1), task, tuned),
              ap.point_key(AdviceConfig("review-sentiment", train={"lora_r": 8}), task, tuned),
              ap.point_key(config, task, Point("tuned", rows=50, seed=1)),
              ap.point_key(config, task, Point("tuned", rows=100)),
              ap.point_key(config, load_task("shop-math"), Point("tuned", rows=25)),
              ap.point_key(config, task, Point("prompt", shots=4))}
    assert key not in others and len(others) == 7
    # the budget only chooses which points run: the same point measured is the same point
    assert ap.point_key(AdviceConfig("review-sentiment", "1h", n_examples=60), task, tuned) == key


# -- the plan and its budget ----------------------------------------------------------------------


def test_the_quick_plan_fits_the_budget_and_says_why_points_were_left_out(fixed):
    fixed["measure"] = fake_measure(rate=1.5e11)  # about 30 s a prompt point
    fixed["step_s"] = 3.0
    result = ap.plan(AdviceConfig("review-sentiment"))
    names = [p.point.name for p in result.points]
    assert names[:4] == QUICK_ORDER[:4]
    assert result.eta_s <= 600 * (1 - ap.MARGIN)
    assert result.left_out and all(why.startswith("over the budget") for _, why in result.left_out)
    planned_or_left = names + [p.name for p, _ in result.left_out]
    assert sorted(planned_or_left) == sorted(QUICK_ORDER)
    assert fixed["calls"] == 1  # the training estimate runs once a plan, scaled to each point
    tuned = {p.point.name: p.estimate_s for p in result.points if p.point.kind == "tuned"}
    assert tuned["LoRA 300 rows"] > tuned["LoRA 50 rows"]


def test_the_first_two_points_run_whatever_the_budget(fixed):
    fixed["measure"] = fake_measure(rate=1e7)  # every point far over the budget
    result = ap.plan(AdviceConfig("review-sentiment", budget="1m"))
    assert [p.point.name for p in result.points] == ["zero-shot", "4-shot"]
    assert result.eta_s > 60
    hybrid = dict((p.name, why) for p, why in result.left_out)["LoRA 300 rows + 4-shot"]
    assert hybrid == "its tuned point LoRA 300 rows is left out"


def test_no_budget_runs_every_candidate(fixed):
    config = AdviceConfig("review-sentiment", "none")
    result = ap.plan(config)
    assert [p.point for p in result.points] == ap.candidate_points(config,
                                                                  load_task("review-sentiment"))
    assert result.budget_s is None and not result.left_out


def test_estimates_grow_with_shots_rows_and_test_rows(fixed):
    task = load_task("review-sentiment")
    small, large = AdviceConfig("review-sentiment", n_examples=30), AdviceConfig(
        "review-sentiment", n_examples=120)
    cache: dict = {}
    zero = eta.estimate_point(small, task, Point("prompt"), cache)
    eight = eta.estimate_point(small, task, Point("prompt", shots=8), cache)
    assert 0 < zero < eight
    assert eta.estimate_point(large, task, Point("prompt"), {}) == pytest.approx(4 * zero, rel=0.05)
    few = eta.estimate_point(small, task, Point("tuned", rows=25), cache)
    many = eta.estimate_point(small, task, Point("tuned", rows=300), cache)
    assert few < many
    assert many == pytest.approx(12 + 60 * fixed["step_s"] + 5.0 + zero, rel=0.3)


def test_llama_cpp_pays_the_shared_shots_once_and_transformers_for_every_row(fixed):
    task, config = load_task("review-sentiment"), AdviceConfig("review-sentiment")
    ratios = {}
    for engine in ("llama.cpp", "transformers"):
        fixed["measure"] = fake_measure(engine=engine)
        cache: dict = {}
        zero = eta.estimate_point(config, task, Point("prompt"), cache)
        ratios[engine] = eta.estimate_point(config, task, Point("prompt", shots=8), cache) / zero
    assert 1 < ratios["llama.cpp"] < 2 < ratios["transformers"]


def test_labels_of_one_token_are_scored_in_one_forward():
    task = load_task("review-sentiment")
    words = eta.Measure("transformers", None, lambda text: 1 + len(text.split()), 1.0, 100, 1000,
                        1.0)
    pieces = eta.Measure("transformers", None, lambda text: 1 + len(text), 1.0, 100, 1000, 1.0)
    one = eta._work(words, task, [50, 50], 0, [0, 0])
    assert one == 2 * 50 * 100 + 2 * 1000  # one padded forward a row, one head position
    assert eta._work(pieces, task, [50, 50], 0, [0, 0]) > 9 * one  # a sequence per label form


def test_a_hybrid_trains_nothing_and_a_tuned_point_trains_and_loads_its_model(fixed):
    task, config = load_task("review-sentiment"), AdviceConfig("review-sentiment")
    hybrid, tuned = Point("hybrid", shots=4, rows=300), Point("tuned", rows=300)
    fast = [eta.estimate_point(config, task, p, {}) for p in (hybrid, tuned)]
    fixed["step_s"] = 10.0
    slow = [eta.estimate_point(config, task, p, {}) for p in (hybrid, tuned)]
    steps = ap.steps_for(300, preset("live-demo"))
    assert slow[0] == fast[0]
    assert slow[1] - fast[1] == pytest.approx(steps * 8.0)
    assert fast[1] > 12 + steps * 2.0 + 5.0  # start-up, steps, loading, then scoring


def test_generation_tasks_are_estimated_too(fixed):
    task = load_task("event-extraction")
    config = AdviceConfig("event-extraction")
    names = [p.name for p in ap.candidate_points(config, task)]
    assert "calibrated zero-shot" not in names and names[:2] == ["zero-shot", "4-shot"]
    assert eta.estimate_point(config, task, Point("prompt"), {}) > 0


def test_a_plan_round_trips_and_reads_as_lines(fixed):
    result = ap.plan(AdviceConfig("review-sentiment"))
    again = Plan.from_dict(json.loads(json.dumps(result.to_dict())))
    assert again == result
    lines = result.lines()
    assert lines[0].startswith("1. zero-shot (~") and lines[1].startswith("2. 4-shot (~")
    assert all(p.key for p in result.points)
    with pytest.raises(LabError):
        Plan.from_dict({"points": [{"point": {"kind": "magic"}}]})


@pytest.mark.integration
def test_the_real_model_is_measured_on_this_machine():
    config, task = AdviceConfig("review-sentiment"), load_task("review-sentiment")
    found = eta.measure(config, task)
    assert found.rate > 0 and found.window >= 2048 and found.body > 0 and found.head > 0
    assert eta._prefix(found, [b.text for b in eta._built(config, task, Point("prompt", shots=4))])


def test_a_point_an_earlier_sweep_finished_is_planned_at_no_cost_and_never_left_out(
        lab_home, monkeypatch):
    from core import advice_plan
    from core.tasks import load_task

    config = AdviceConfig(task="review-sentiment", budget="quick", shots=(0, 4), rows=())
    monkeypatch.setattr(advice_plan, "estimate_point", lambda *a, **k: 400.0)
    from types import SimpleNamespace

    monkeypatch.setattr(advice_plan, "_candidates", lambda c, t, cache: (
        cache.update(measure=SimpleNamespace(load_s=0.0)),
        [Point("prompt"), Point("prompt", shots=4), Point("prompt", shots=8)], [])[1:])
    monkeypatch.setattr(advice_plan, "point_key", lambda c, t, p: f"key-{p.shots}")
    cache = lab_home / "advice" / "points"
    cache.mkdir(parents=True)
    (cache / "key-8.json").write_text("{}")
    plan = advice_plan.plan(config)
    assert [(p.point.shots, p.estimate_s) for p in plan.points] == [(0, 400.0), (4, 400.0),
                                                                     (8, 0.0)]
    assert not plan.left_out
