"""``python -m core review``: a comparison's blind review without a browser.

    python -m core review ID --pairs 20 [--setups A B] --pack review.html   # a report to send
    python -m core review ID --import ratings-ID-Dana.json                 # what a reviewer saved
    python -m core review ID --judge embedded:gemma-3-270m [--prompt-file F]
    python -m core review ID --summary [--json]   # win rates, ranking, kappa, judges' agreement

A judge rates the same pairs a review of ``--pairs`` draws (same ``--seed``), and
every pair a person has rated besides, so that its agreement rests on all of them.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from core.config import DEVICES, DTYPES, ENGINES
from core.errors import ConfigError


def add_review_parser(sub: Any) -> None:
    """The ``review`` subcommand and its options."""
    review = sub.add_parser("review", help="blind review of a comparison's answers: a report "
                                           "to rate offline, ratings import, a judge, the summary")
    review.add_argument("comparison", help="the comparison's id (python -m core compare prints it)")
    review.add_argument("--pairs", type=int, default=20, metavar="N",
                        help="pairs to review (default 20)")
    review.add_argument("--setups", nargs="+", default=None, metavar="SETUP",
                        help="the setups to pair (default: all)")
    review.add_argument("--seed", type=int, default=0, help="which pairs are drawn (default 0)")
    review.add_argument("--pack", default=None, metavar="FILE",
                        help="write the HTML report with a blind review of the pairs here")
    what = review.add_mutually_exclusive_group()
    what.add_argument("--import", dest="import_file", default=None, metavar="FILE",
                      help="import a ratings file the review page saved")
    what.add_argument("--judge", default=None, metavar="MODEL",
                      help="let a model judge the pairs: embedded:<name>, a folder or a Hub id")
    what.add_argument("--summary", action="store_true",
                      help="print win rates, ranking, agreement and the judges' agreement")
    review.add_argument("--prompt-file", default=None, metavar="FILE",
                        help="the judge's prompt (placeholders {input} {reference} {answer_a} "
                             "{answer_b}); default: the lab's")
    review.add_argument("--one-order", action="store_true",
                        help="ask the judge once per pair, not again with A and B swapped")
    review.add_argument("--engine", default="auto", choices=ENGINES)
    review.add_argument("--device", default="auto", choices=DEVICES)
    review.add_argument("--dtype", default="auto", choices=DTYPES)
    review.add_argument("--json", action="store_true", help="print JSON (the summary, the "
                                                            "judge's verdicts, or the pairs)")


def run_review(args: argparse.Namespace) -> int:
    """``python -m core review``: one of pairs (and --pack), --import, --judge, --summary."""
    from core.compare_runs import load_results

    if args.prompt_file and not args.judge:
        raise ConfigError("--prompt-file is the judge's prompt, but no --judge is given.",
                          "Add --judge MODEL, e.g. --judge embedded:gemma-3-270m.")
    results = load_results(args.comparison)
    if args.import_file:
        return _import(args)
    if args.judge:
        return _judge(args, results)
    if args.summary:
        return _summary(args, results)
    return _pairs(args, results)


def _read_bytes(path: str, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except (FileNotFoundError, IsADirectoryError):
        raise ConfigError(f"There is no {what} at {path}.", "Check the path.") from None


def _import(args: argparse.Namespace) -> int:
    from core.review_file import import_ratings

    data = _read_bytes(args.import_file, "ratings file")
    result = import_ratings(args.comparison, data, Path(args.import_file).name)
    print(result.message)
    return 0


def _summary_of(results: dict) -> dict:
    from core.review_stats import summary
    from core.review_store import ratings

    return summary(results, ratings(results["id"]))


def _pairs(args: argparse.Namespace, results: dict) -> int:
    from core.review import build_pairs, identical_pairs, pack

    pairs = build_pairs(results, args.setups, args.pairs, args.seed)
    made = pack(results, pairs)
    if args.pack:
        from core.report import html_report

        found = _summary_of(results)
        review = {"pack": made, "summary": found if found["votes"] else None}
        Path(args.pack).write_text(html_report(results, review=review), encoding="utf-8")
    if args.json:
        print(json.dumps(made, indent=2, ensure_ascii=False))
        return 0
    same = identical_pairs(results, args.setups)
    left = f" ({same} pairs with the same answer from both setups left out)" if same else ""
    print(f"{len(pairs)} pairs to review, pack {made['pack']}{left}.")
    if args.pack:
        print(f"report with the blind review: {args.pack} (open it in any browser, rate, "
              "save the ratings file, then: python -m core review "
              f"{args.comparison} --import FILE)")
    return 0


def judge_config(args: argparse.Namespace):
    """The JudgeConfig the options ask for (checked before any model loads)."""
    from core.config import ModelSpec
    from core.judge import DEFAULT_PROMPT, JudgeConfig

    prompt = DEFAULT_PROMPT
    if args.prompt_file:
        try:
            prompt = _read_bytes(args.prompt_file, "prompt file").decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ConfigError(f"The prompt file {args.prompt_file} is not UTF-8 text.",
                              "Save it as UTF-8.") from None
    spec = ModelSpec(source=args.judge, engine=args.engine, device=args.device, dtype=args.dtype)
    return JudgeConfig(spec, prompt=prompt, both_orders=not args.one_order)


def judged_pairs(results: dict, setups: list[str] | None, n: int, seed: int) -> list:
    """The pairs a review of ``n`` draws, then every other pair a person has rated (among
    ``setups``), so the judge's agreement with people rests on all of their votes."""
    from core.review import all_pairs, build_pairs
    from core.review_store import ratings

    pairs = build_pairs(results, setups, n, seed)
    chosen, every = {p.id for p in pairs}, all_pairs(results)
    for rating in ratings(results["id"]):
        pair = every.get(rating.pair)
        if pair is None or pair.id in chosen or rating.reviewer.startswith("judge: "):
            continue
        if setups is None or {pair.setup_a, pair.setup_b} <= set(setups):
            pairs.append(pair)
            chosen.add(pair.id)
    return pairs


def _judge(args: argparse.Namespace, results: dict) -> int:
    from core.engines import load_engine
    from core.judge import bias_words, judge_name, position_bias, run_judge

    config = judge_config(args)
    pairs = judged_pairs(results, args.setups, args.pairs, args.seed)
    engine = load_engine(config.model, work="prefill")
    say = lambda done, total: print(f"judged {done} of {total} prompts", file=sys.stderr,  # noqa: E731
                                    flush=True)
    verdicts = run_judge(results["id"], pairs, config, engine, progress=say)
    bias = position_bias(verdicts)
    name = judge_name(config.model)
    mine = next((j for j in _summary_of(results)["judges"] if j["judge"] == name), None)
    if args.json:
        print(json.dumps({"judge": name, "verdicts": [{**v.__dict__, "lean": v.lean}
                                                      for v in verdicts],
                          "position_bias": bias, "agreement": mine}, indent=2))
        return 0
    for pair, verdict in zip(pairs, verdicts):
        asked = (f"  (asked swapped: {verdict.second}; leans {verdict.lean} with the order "
                 "averaged out)" if verdict.second is not None else "")
        print(f"{pair.id}  {verdict.vote:4s}  first ask: {verdict.first}{asked}")
    print(f"\n{name} rated {len(verdicts)} pairs; its votes are stored as {name!r}.")
    print(bias_words(bias))
    print(_judge_words(mine, name))
    return 0


def _judge_words(row: dict | None, name: str) -> str:
    from core.judge import agreement_words

    kappa, n = (row["kappa_vs_people"], row["n"]) if row else (None, 0)
    return agreement_words(kappa, n, name)


def _summary(args: argparse.Namespace, results: dict) -> int:
    found = _summary_of(results)
    if args.json:
        print(json.dumps(found, indent=2, ensure_ascii=False))
        return 0
    print("\n".join(summary_lines(found)))
    return 0


def summary_lines(found: dict) -> list[str]:
    """The review's summary as lines of text: who rated, win rates, ranking, agreement."""
    if not found["votes"] and not found["judges"]:
        return ["No votes yet: rate pairs on the Compare page's Review tab, or write a report "
                "to rate offline with --pack FILE, then --import the ratings file it saves."]
    who = ", ".join(f"{name} {n}" for name, n in found["reviewers"].items()) or "nobody"
    lines = [f"{found['votes']} votes by people on {found['pairs']} pairs ({who})."]
    if found["win_rates"]:
        lines.append("\nWin rates (ties count half; both bad apart):")
    for w in found["win_rates"]:
        rate = "-" if w["rate"] is None else f"{w['rate']:.2f} ({w['low']:.2f} to {w['high']:.2f})"
        lines.append(f"  {w['setup']} over {w['other']}: {rate}  [{w['wins']} wins, "
                     f"{w['losses']} losses, {w['ties']} ties, {w['both_bad']} both bad]")
    if found["ranking"]:
        lines.append("\nRanking (Bradley-Terry, 95% interval, P(best)):")
    for i, r in enumerate(found["ranking"], 1):
        lines.append(f"  {i}. {r['setup']}: {r['strength']:.2f} ({r['low']:.2f} to "
                     f"{r['high']:.2f}), P(best) {r['p_best']:.2f}")
    lines.append(f"\nAgreement: {found['agreement']['words']}")
    for j in found["judges"]:
        lines.append(f"\n{j['words']}\n  {_judge_words(j, j['judge'])}")
    return lines
