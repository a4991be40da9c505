"""``python -m core``: the lab without a browser.

    python -m core prepare                 # assemble and convert the embedded models once
    python -m core models                  # what is embedded, and whether it is converted
    python -m core generate "Once upon a time" --max-new-tokens 40
    python -m core generate --system "Answer briefly." "What is LoRA?" --stream
    python -m core score "Review: great film. Sentiment:" " positive" " negative"
    python -m core history --limit 5 --export csv
    python -m bench --rounds 3                 # the benchmarks (bench/, its own entry)
    python -m core train --preset live-demo    # fine-tune in the foreground, printing progress
    python -m core train --preset live-demo --precision float32 --threads 1
    python -m core train CONFIG.json --run-dir DIR [--resume]   # what a background run executes
    python -m core runs --json                 # the training runs and their status
    python -m core compare CONFIG.json --report report.html   # a comparison, headless
    python -m core advise TASK --budget 10m --report advice.html   # prompt, tune or retrieve?
    python -m core tasks create NAME --from FILE --kind ... # your own task (see core.cli_tasks)
    python -m core review ID --pairs 20 --pack review.html   # blind review (see core.cli_review)

Errors meant for people (a bad parameter, a missing model) print the problem
and its fix and exit with status 2; nothing prints a traceback for them. Two
troubles print a warning and its fix on standard error instead, and exit 0,
since the work was done: ``generate`` whose answer could not be saved in the
history (damaged lab.db, read-only or full data folder; the answer is printed),
and ``runs`` with a damaged lab.db (the runs are listed from their folders).
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import sys
from pathlib import Path

from core.cli_advise import add_advise_parser, run_advise
from core.cli_review import add_review_parser, run_review
from core.cli_tasks import add_tasks_parser, read_schema_file, run_tasks
from core.config import DEFAULT_MODEL, DEVICES, DTYPES, ENGINES, GenerationParams, ModelSpec
from core.errors import ConfigError, LabError
from core.precision import PRECISIONS


def _model_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default=DEFAULT_MODEL,
                        help="embedded:<name>, a local folder, or a Hugging Face id "
                             f"(default {DEFAULT_MODEL})")
    parser.add_argument("--engine", default="auto", choices=ENGINES,
                        help="auto: llama.cpp for GGUF models on a CPU, else transformers")
    parser.add_argument("--device", default="auto", choices=DEVICES)
    parser.add_argument("--dtype", default="auto", choices=DTYPES)
    parser.add_argument("--adapter", default=None,
                        help="a PEFT adapter folder to apply (LoRA runs on llama.cpp too)")
    parser.add_argument("--trust-remote-code", action="store_true",
                        help="run code from the model's repository (read it first)")
    parser.add_argument("--threads", type=int, default=0,
                        help="CPU threads (0: the count measured at first start)")


HISTORY_LIMIT_MAX = 1_000_000_000


def _count(low: int, high: int):
    """An argparse type: a whole number from ``low`` to ``high``; anything else is a usage
    error that names the range (a huge number would overflow SQLite's integers)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"invalid int value: {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be a whole number from {low} to {high:,}, "
                                             f"got {text}")
        return value
    parse.__name__ = "int"
    return parse


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m core", description="PromptTune Lab, headless.")
    sub = parser.add_subparsers(dest="command", required=True)

    prepare = sub.add_parser("prepare", help="assemble and convert the embedded models once")
    prepare.add_argument("names", nargs="*", help="embedded model names (default: all)")

    sub.add_parser("models", help="list the embedded models")

    gen = sub.add_parser("generate", help="complete a prompt and print the figures")
    gen.add_argument("prompt", help="the prompt text, or - to read it from standard input")
    gen.add_argument("--system", default=None,
                     help="treat the prompt as a user turn after this system text "
                          "(chat template, or the lab's plain format)")
    gen.add_argument("--max-new-tokens", type=int, default=64)
    gen.add_argument("--temperature", type=float, default=0.0, help="0 means greedy")
    gen.add_argument("--top-p", type=float, default=1.0)
    gen.add_argument("--top-k", type=int, default=0, help="0 turns it off")
    gen.add_argument("--repetition-penalty", type=float, default=1.0)
    gen.add_argument("--stop", action="append", default=[], help="stop sequence (repeatable)")
    gen.add_argument("--seed", type=int, default=0)
    gen.add_argument("--json-schema", default=None, metavar="FILE",
                     help="constrain the answer to JSON valid under the JSON Schema in FILE")
    gen.add_argument("--stream", action="store_true", help="print tokens as they come")
    gen.add_argument("--json", action="store_true", help="print one JSON object")
    gen.add_argument("--no-history", action="store_true", help="do not save to the history")
    _model_args(gen)

    score = sub.add_parser("score", help="log-likelihood of candidate answers after a prompt")
    score.add_argument("prompt")
    score.add_argument("candidates", nargs="+", help="e.g. ' positive' ' negative'")
    _model_args(score)

    sub.add_parser("bench", help="run the benchmarks (python -m bench; options after --)",
                   add_help=False)

    train = sub.add_parser("train", help="fine-tune a model (foreground; progress lines)")
    train.add_argument("config", nargs="?", default=None,
                       help="a JSON or YAML file of TrainConfig settings (over the preset's)")
    train.add_argument("--preset", default=None, help="start from a preset: live-demo, thorough")
    train.add_argument("--run-dir", default=None,
                       help="the run folder (default: a new one under $PROMPTTUNE_HOME/runs)")
    train.add_argument("--resume", action="store_true",
                       help="continue from the run folder's last checkpoint")
    train.add_argument("--precision", default=None, choices=PRECISIONS,
                       help="number format of the training arithmetic (default: the config's; "
                            "auto = measured fastest on this processor)")
    train.add_argument("--threads", type=int, default=None,
                       help="training threads (0 = auto: every core while the machine is "
                            "otherwise idle, one while something else is busy)")

    compare = sub.add_parser("compare", help="run a comparison config (foreground) and print "
                                             "its verdict and metrics")
    compare.add_argument("config", help="a comparison config.json (the Compare page saves one)")
    compare.add_argument("--out", default=None, help="folder for results.json (default: a new "
                                                      "comparison folder of the lab)")
    compare.add_argument("--report", default=None, help="also write the HTML report here")
    runs = sub.add_parser("runs", help="list the training runs")
    runs.add_argument("--json", action="store_true", help="print one JSON list")

    hist = sub.add_parser("history", help="show or export saved generations")
    hist.add_argument("--limit", type=_count(1, HISTORY_LIMIT_MAX), default=20,
                      help=f"how many, newest first (1 to {HISTORY_LIMIT_MAX:,})")
    hist.add_argument("--export", choices=("json", "csv"), default=None)
    add_tasks_parser(sub)
    add_advise_parser(sub)
    add_review_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["bench"]:  # the benchmarks have their own entry, python -m bench: core
        return _bench(argv[1:])  # never imports them, it only hands the arguments on
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except LabError as exc:
        print(f"error: {exc.problem}", file=sys.stderr)
        if exc.fix:
            print(f"fix: {exc.fix}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader stopped reading (| head): nothing went wrong here
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no error at exit either
        return 141
    except OSError as exc:  # a path given on the command line the system refuses (too long...)
        print(f"error: {_os_problem(exc, args.command)}", file=sys.stderr)
        print(f"fix: {_os_fix(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _os_problem(exc: OSError, command: str) -> str:
    where = f" ({exc.filename})" if exc.filename else ""
    return f"{command} could not go on: {exc.strerror or exc}{where}."


def _os_fix(exc: OSError) -> str:
    """What to do about an OSError the command met, by its cause."""
    return {errno.ENAMETOOLONG: "Use a shorter path: a file or folder name may have at most 255 "
                                "bytes.",
            errno.ENOSPC: "Free some disk space, then try again.",
            errno.EROFS: "Use a folder on a writable disk (or set PROMPTTUNE_HOME to one).",
            errno.EACCES: "Check the permissions of the path, or use another.",
            errno.ENOENT: "Check the path: it does not exist."}.get(
                exc.errno, "Check the path given and try again.")


def _spec(args: argparse.Namespace) -> ModelSpec:
    return ModelSpec(source=args.model, engine=args.engine, device=args.device, dtype=args.dtype,
                     threads=args.threads, adapter=args.adapter,
                     trust_remote_code=args.trust_remote_code)


def _prepare(args: argparse.Namespace) -> int:
    from core.embedded import EMBEDDED_MODELS, ensure_converted, is_converted

    for name in args.names or list(EMBEDDED_MODELS):
        if is_converted(name):
            print(f"{name}: ready")
        else:
            ensure_converted(name)
    _print_precision()
    return 0


def _print_precision() -> None:
    """The number format per kind of work on this processor (measured once, a few seconds)."""
    from core.precision import cpu_measurement

    measured = cpu_measurement()
    print(f"number formats on this processor ({measured.processor['capability']}):")
    for work in ("train", "generate", "prefill"):
        print(f"  {work:9s} {measured.reason(work)}")


def _models(args: argparse.Namespace) -> int:
    from core.embedded import EMBEDDED_MODELS, is_converted

    for name, model in EMBEDDED_MODELS.items():
        state = "converted" if is_converted(name) else "not converted yet (python -m core prepare)"
        print(f"embedded:{name:24s} {model.title:28s} {model.licence:32s} {state}")
    return 0


def _generate(args: argparse.Namespace) -> int:
    from core.answers import answer_prompt
    from core.chat import Message
    from core.engines import load_engine
    from core.generation import check_prompt_size

    prompt = _read_stdin() if args.prompt == "-" else args.prompt
    params = GenerationParams(max_new_tokens=args.max_new_tokens, temperature=args.temperature,
                              top_p=args.top_p, top_k=args.top_k,
                              repetition_penalty=args.repetition_penalty, stop=tuple(args.stop),
                              seed=args.seed, json_schema=read_schema_file(args.json_schema))
    engine = load_engine(_spec(args))
    check_prompt_size(prompt, engine.info)  # before any tokenizer reads megabytes of it
    if args.system is not None:
        prompt = engine.chat_prompt([Message("system", args.system), Message("user", prompt)])
        params = GenerationParams.from_dict({**params.to_dict(),
                                             "stop": list(params.stop) + list(engine.chat_stops())})
    streamed = args.stream and not args.json
    answer = answer_prompt(engine, prompt, params, record=not args.no_history, source="cli",
                           on_chunk=(lambda chunk: print(chunk, end="", flush=True))
                           if streamed else None)
    completion = answer.completion
    if streamed:
        print()
    if args.json:
        print(json.dumps({"prompt": prompt, "completion": completion.text,
                          "params": params.to_dict(), **completion.figures()}, indent=2))
    else:
        if not streamed:
            print(completion.text)
        print(format_figures(completion.figures()), file=sys.stderr)
    if answer.record_error is not None:
        _unsaved(answer.record_error)
    return 0


def _unsaved(exc: LabError) -> None:
    """The answer was printed but the history could not be written (damaged, read-only, full
    disk): it costs the record, never the answer; a warning says so."""
    print(f"warning: the answer above was not saved in the history. {exc.problem}",
          file=sys.stderr)
    if exc.fix:
        print(f"fix: {exc.fix} (or pass --no-history)", file=sys.stderr)


def _read_stdin() -> str:
    """The prompt piped in, as UTF-8 (the console's encoding would let bad bytes through)."""
    data = sys.stdin.buffer.read()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"The prompt on standard input is not UTF-8 text (byte {exc.start}).",
                          "Convert it first, e.g. iconv -f latin1 -t utf-8 prompt.txt | "
                          "python -m core generate -") from None


def format_figures(fig: dict) -> str:
    """One line of figures: decoding and prompt processing at their own speeds (as llama.cpp
    reports them), since one rate over the whole latency is mostly prompt reading for a
    short answer."""
    ttft = fig.get("time_to_first_token_s")
    first = f" · first token {ttft:.2f} s" if ttft is not None else ""
    rates = " · ".join(f"{what} {fig[key]:.1f} tok/s" for what, key in
                       (("decoding", "decode_tokens_per_s"), ("prompt", "prompt_tokens_per_s"))
                       if fig.get(key) is not None) or f"{fig['tokens_per_s']:.1f} tok/s overall"
    return (f"[{fig['engine']} · {fig['model']} · {fig['prompt_tokens']} prompt + "
            f"{fig['completion_tokens']} completion tokens · {fig['latency_s']:.2f} s{first} · "
            f"{rates} · finish: {fig['finish_reason']}]")


def _score(args: argparse.Namespace) -> int:
    from core.engines import load_engine

    engine = load_engine(_spec(args))
    for score in engine.score_candidates(args.prompt, args.candidates):
        print(f"{score.candidate!r:24s} logprob {score.logprob:9.4f}  p {score.probability:.4f}")
    return 0


def _history(args: argparse.Namespace) -> int:
    from core.history import export_history, list_generations

    entries = list_generations(limit=args.limit)
    if args.export:
        print(export_history(entries, args.export))
        return 0
    for entry in entries:
        decode = entry.decode_tokens_per_s
        speed = f", {decode:.1f} tok/s decoding" if decode is not None else ""
        print(f"#{entry.id} {entry.created_at} {entry.model} [{entry.source}] "
              f"{entry.completion_tokens} tok, {entry.latency_s:.2f} s{speed}: {entry.output[:60]!r}")
    return 0


def _train(args: argparse.Namespace) -> int:
    from core import runs
    from core.train_config import TrainConfig, load_config, preset

    if args.config is None and args.preset is None:
        raise ConfigError("Give a config file, a --preset, or both.",
                          "e.g. python -m core train --preset live-demo")
    config = load_config(args.config, args.preset) if args.config else preset(args.preset)
    overrides = {k: getattr(args, k) for k in ("precision", "threads")
                 if getattr(args, k) is not None}
    if overrides:
        config = TrainConfig.from_dict({**config.to_dict(), **overrides})
    run_dir = Path(args.run_dir) if args.run_dir else None
    if run_dir is None or not (run_dir / "status.json").exists():
        run_dir = runs.create_run(config, run_dir)
    print(f"run {run_dir.name}: {run_dir}", flush=True)
    code = runs.execute(config, run_dir, resume=args.resume)
    status = runs.read_status(run_dir)
    print(f"run {run_dir.name}: {status.get('status')}", flush=True)
    return code


def _bench(argv: list[str]) -> int:
    """``python -m core bench ARGS`` runs ``python -m bench ARGS`` (kept for older notes)."""
    import subprocess

    root = Path(__file__).resolve().parent.parent
    return subprocess.call([sys.executable, "-m", "bench", *argv], cwd=root)


def _compare(args: argparse.Namespace) -> int:
    from core.compare_runs import run_config_file

    from core.results import Results

    results, folder = run_config_file(Path(args.config), Path(args.out) if args.out else None)
    typed = Results.from_dict(results)
    for row in typed.rows:
        shown = {k: v.value for k, v in row.metrics.items()} if row.metrics else row.error
        print(f"{row.name:20s} {row.engine or '-':12s} {shown}")
    for warning in typed.warnings:  # again under the table: the start's have scrolled away
        print(f"warning: {warning}")
    from core.report import notes, paired_sentences, verdict

    print(f"\nverdict: {verdict(results)}")
    for line in paired_sentences(results) + notes(results):
        print(f"  {line}")
    if args.report:
        from core.report import html_report

        Path(args.report).write_text(html_report(results), encoding="utf-8")
        print(f"report: {args.report}")
    print(f"results: {folder / 'results.json'}")
    return 0


def _runs(args: argparse.Namespace) -> int:
    from core.runs import index_problem, list_runs

    found = list_runs()
    problem = index_problem()
    if problem is not None:  # the list below is still whole: it comes from the run folders
        print(f"warning: {problem.problem}", file=sys.stderr)
        print(f"fix: {problem.fix}", file=sys.stderr)
    if args.json:
        print(json.dumps([{"id": r.id, "name": r.name, "status": r.status, "created_at": r.created_at,
                           "method": r.method or None, "model": r.base_model or None,
                           "data": r.data, "queue_position": r.queue_position,
                           "run_dir": str(r.run_dir), "metrics": r.metrics,
                           "problem": r.problem, "fix": r.fix} for r in found], indent=2))
        return 0
    for r in found:
        extra = f" (queue position {r.queue_position})" if r.queue_position else ""
        acc = r.measured.accuracy
        acc_text = f" accuracy {acc:.3f}" if acc is not None else ""
        name = f" \"{r.name}\"" if r.name else ""
        print(f"{r.id:48s} {r.status:9s}{extra} {r.method or None} {r.data}{acc_text}{name}")
    return 0


COMMANDS = {"prepare": _prepare, "models": _models, "generate": _generate, "score": _score,
            "history": _history, "train": _train, "runs": _runs, "compare": _compare,
            "tasks": run_tasks, "advise": run_advise, "review": run_review}
