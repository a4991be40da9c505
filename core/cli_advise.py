"""``python -m core advise``: prompt, fine-tune or retrieve? The advisor's sweep, headless.

    python -m core advise TASK --budget 10m --report advice.html
    python -m core advise TASK --plan-only            # the plan and its ETA; nothing runs
    python -m core advise --config advice-config.json --json
    python -m core advise --job FOLDER                # what the Advisor page's process runs

It prints the plan with its ETA first, one line a point as it finishes, then the
recommendation and how many labelled rows would beat the best prompt.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from core.config import ENGINES
from core.errors import ConfigError

LIST_FIX = {"shots": "Give whole numbers from 0, separated by commas, e.g. --shots 0,1,2,4,8.",
            "rows": "Give whole numbers above 0 or 'all', separated by commas, e.g. "
                    "--rows 25,50,100,all."}


def add_advise_parser(sub: Any) -> None:
    """The ``advise`` subcommand and its options."""
    advise = sub.add_parser("advise", help="prompt, fine-tune or retrieve? measure it on a task "
                                           "(a sweep of few-shot and LoRA points)")
    advise.add_argument("task", nargs="?", default=None, help="the task (python -m core tasks "
                                                              "list names them)")
    advise.add_argument("--budget", default=None,
                        help="quick (about 10 minutes), thorough (about an hour), none, or a "
                             "time: 10m, 90s, 1.5h (default quick)")
    advise.add_argument("--report", default=None, help="also write the offline HTML report here")
    advise.add_argument("--n-examples", default=None, metavar="N",
                        help="test rows scored per point (default: by the budget)")
    advise.add_argument("--shots", default=None, help="few-shot k to try, e.g. 0,1,2,4,8")
    advise.add_argument("--rows", default=None, help="training rows to tune on, e.g. 25,50,100,all")
    advise.add_argument("--seeds", default=None, metavar="N",
                        help="repeats of tuned points with other seeds (default: by the budget)")
    advise.add_argument("--no-hybrids", action="store_true",
                        help="leave out tuned + shots and tuned + retrieval")
    advise.add_argument("--model", default=None, help="the base model (default: the embedded one)")
    advise.add_argument("--engine", default=None, choices=ENGINES)
    advise.add_argument("--plan-only", action="store_true",
                        help="print the plan and its ETA, run nothing")
    advise.add_argument("--json", action="store_true",
                        help="print advice.json (progress goes to standard error)")
    advise.add_argument("--config", default=None, metavar="FILE",
                        help="an advice config (JSON, as the Advisor page and the report save it)")
    advise.add_argument("--job", default=None, metavar="FOLDER", help=argparse.SUPPRESS)


def _whole(text: str, what: str, low: int = 0) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        value = None
    if value is None or value < low:
        raise ConfigError(f"{what} must be a whole number of at least {low}, got {text!r}.",
                          f"e.g. {what} {max(low, 1) * 3}.")
    return value


def parse_counts(text: str, what: str) -> tuple[int, ...]:
    """'0,1,2,4,8' as (0, 1, 2, 4, 8); for rows, 'all' is 0 (every training row)."""
    values = []
    for part in text.split(","):
        part = part.strip().lower()
        if what == "rows" and part == "all":
            values.append(0)
        elif part.isdigit() and (what == "shots" or int(part) > 0):
            values.append(int(part))
        else:
            raise ConfigError(f"--{what} {text!r} is not a list of {what} counts "
                              f"({part!r} is not one).", LIST_FIX[what])
    return tuple(values)


def read_config_file(path: Path) -> dict[str, Any]:
    """An advice config file's settings (checked by ``AdviceConfig.from_dict``)."""
    fix = "Save one from the Advisor page or the report, or write {\"task\": ...} by hand."
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"There is no advice config at {path}.", fix) from None
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ConfigError(f"{path} is not a valid advice config: {exc}.", fix) from None
    if not isinstance(data, dict):
        raise ConfigError(f"The advice config {path} holds no JSON object of settings.", fix)
    return data


def config_from_args(args: argparse.Namespace):
    """The AdviceConfig the options ask for: the --config file's settings, under the task and
    the options given on the command line."""
    from core.advice_plan import AdviceConfig, parse_budget
    from core.tasks import task_folder

    data = read_config_file(Path(args.config)) if args.config else {}
    if args.task:
        data["task"] = args.task
    if not data.get("task"):
        raise ConfigError("Name the task to advise on.", "e.g. python -m core advise "
                          "review-sentiment --budget 10m (python -m core tasks list names them).")
    task_folder(data["task"])  # an unknown task: a ConfigError listing the tasks there are
    if args.budget is not None:
        parse_budget(args.budget)  # "ten minutes": the problem and its fix, before anything
        data["budget"] = args.budget
    for key in ("model", "engine"):
        if getattr(args, key) is not None:
            data[key] = getattr(args, key)
    if args.n_examples is not None:
        data["n_examples"] = _whole(args.n_examples, "--n-examples", 5)
    if args.seeds is not None:
        data["seeds"] = _whole(args.seeds, "--seeds", 1)
    for key in ("shots", "rows"):
        if getattr(args, key) is not None:
            data[key] = parse_counts(getattr(args, key), key)
    if args.no_hybrids:
        data["hybrids"] = False
    return AdviceConfig.from_dict(data)


def run_advise(args: argparse.Namespace) -> int:
    """``python -m core advise``: plan, run (or only plan), print, write the report."""
    from core import advice_job

    if args.job:
        return _run_job(Path(args.job))
    config = config_from_args(args)
    if args.plan_only:
        from core.advice_plan import plan

        made = plan(config)
        if args.json:
            print(json.dumps(made.to_dict(), indent=2))
        else:
            print("\n".join(advice_job.plan_lines(made)))
        return 0
    say = (lambda text: print(text, file=sys.stderr, flush=True)) if args.json else \
        (lambda text: print(text, flush=True))
    advice, folder = advice_job.run_headless(config, say=say)
    if args.json:
        print(json.dumps(advice, indent=2))
    else:
        for line in summary_lines(advice):
            print(line)
    if args.report:
        from core.advice_report import advice_html

        Path(args.report).write_text(advice_html(advice), encoding="utf-8")
        say(f"report: {args.report}")
    say(f"advice: {folder / 'advice.json'}")
    return 0


def summary_lines(advice: dict) -> list[str]:
    """The recommendation's sentences and the rows-needed sentence, as printed at the end."""
    recommendation = advice.get("recommendation") or {}
    lines = ["", f"recommendation: {recommendation.get('choice', 'undecided')}"]
    lines += [f"  {sentence}" for sentence in recommendation.get("sentences") or []]
    words = ((advice.get("curve") or {}).get("n_needed") or {}).get("words")
    if words:
        lines.append(f"  {words}")
    lines += [f"skipped: {s.get('name')} ({s.get('reason')})" for s in advice.get("skipped") or []]
    return lines


def _run_job(folder: Path) -> int:
    """The background process of an advice the Advisor page (or a resume) started."""
    from core import jobs
    from core.advice_job import execute
    from core.advice_plan import AdviceConfig
    from core.errors import LabError

    try:
        config = AdviceConfig.from_dict(read_config_file(folder / "config.json"))
    except LabError as exc:  # said on the page, not only in the log
        jobs.write_status(folder, status="failed", finished_at=jobs.now(), problem=exc.problem,
                          fix=exc.fix)
        raise
    execute(config, folder)
    return 0
