"""``python -m core tasks``: the lab's tasks from the command line.

    python -m core tasks list [--json]
    python -m core tasks show NAME [--json]
    python -m core tasks create NAME --from reviews.csv --kind classification --input text \\
        --label label [--labels A,B,C] [--instruction ...] [--template ...] [--schema FILE] \\
        [--seed 0] [--test-size 0.2] [--validation-size 0.1] [--dry-run]
    python -m core tasks create NAME --from hub:OWNER/NAME [--config C] [--split S] ...
    python -m core tasks export NAME DEST [--zip]
    python -m core tasks rename OLD NEW
    python -m core tasks delete NAME

``create --from`` reads a CSV/TSV/JSONL/JSON/Parquet file, a save_to_disk folder, a task
folder or zip (as ``export`` writes; its task.json gives every setting not given here) or
``hub:NAME``. ``--dry-run`` prints the plan (counts, splits, fingerprint, prompt) and writes
nothing. Errors print ``error:`` and ``fix:`` and exit 2, as in the rest of the CLI.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def add_tasks_parser(sub: argparse._SubParsersAction) -> None:
    """The ``tasks`` command and its actions, under the CLI's subparsers ``sub``."""
    tasks = sub.add_parser("tasks", help="list, show, create, export, rename and delete tasks")
    act = tasks.add_subparsers(dest="tasks_command", required=True)
    listing = act.add_parser("list", help="the sample tasks, then yours")
    listing.add_argument("--json", action="store_true", help="print one JSON list")
    show = act.add_parser("show", help="a task's splits, labels, fingerprint and prompt")
    show.add_argument("name")
    show.add_argument("--json", action="store_true", help="print one JSON object")
    _create_parser(act)
    export = act.add_parser("export", help="write a task as a folder (or zip) for create --from")
    export.add_argument("name")
    export.add_argument("dest", help="a new folder, or the zip file with --zip")
    export.add_argument("--zip", action="store_true", help="write a .zip of the task folder")
    rename = act.add_parser("rename", help="rename one of your tasks")
    rename.add_argument("name")
    rename.add_argument("new_name")
    delete = act.add_parser("delete", help="delete one of your tasks")
    delete.add_argument("name")


def _create_parser(act: argparse._SubParsersAction) -> None:
    create = act.add_parser("create", help="make a task of your own data")
    create.add_argument("name", help="the new task's name (1-64 characters, no '/')")
    create.add_argument("--from", dest="source", required=True, metavar="SOURCE",
                        help="a CSV/TSV/JSONL/JSON/Parquet file, a save_to_disk folder, a task "
                             "folder or zip, or hub:NAME")
    create.add_argument("--config", default=None, help="hub: the data set's configuration")
    create.add_argument("--split", default=None, help="hub: one split only (default: all)")
    create.add_argument("--kind", default=None,
                        choices=("classification", "json", "qa", "numeric", "text"))
    create.add_argument("--input", default=None, help="the column holding the input text")
    create.add_argument("--label", default=None, help="the column holding the answer")
    create.add_argument("--labels", default=None,
                        help="classification: the labels, comma-separated (default: found in "
                             "the data; rows with other labels are skipped)")
    create.add_argument("--instruction", default=None, help="what the model is asked to do")
    create.add_argument("--template", default=None, help="the prompt, with {input}")
    create.add_argument("--schema", default=None, metavar="FILE",
                        help="json: a JSON Schema file (default: inferred from the answers)")
    create.add_argument("--collection", default=None, help="qa: the document collection")
    create.add_argument("--title", default=None, help="the name shown on the pages")
    create.add_argument("--seed", type=int, default=None, help="seed of the split (default 0)")
    create.add_argument("--test-size", type=float, default=None,
                        help="a fraction (0.2) or a count of rows (default 0.2)")
    create.add_argument("--validation-size", type=float, default=None,
                        help="a fraction or a count (default 0.1)")
    create.add_argument("--dry-run", action="store_true",
                        help="print what would be created, write nothing")


def run_tasks(args: argparse.Namespace) -> int:
    """Run ``python -m core tasks ACTION``."""
    return {"list": _list, "show": _show, "create": _create, "export": _export,
            "rename": _rename, "delete": _delete}[args.tasks_command](args)


def _list(args: argparse.Namespace) -> int:
    from core.errors import LabError
    from core.tasks import list_tasks, load_task

    found = []
    for name in list_tasks():
        try:
            task = load_task(name)
            found.append({"name": name, "origin": task.origin, "kind": task.kind,
                          "title": task.title, "problem": None})
        except LabError as exc:  # a damaged task is listed with its problem, never hides others
            found.append({"name": name, "origin": "yours", "kind": None, "title": None,
                          "problem": exc.problem})
    if args.json:
        print(json.dumps(found, indent=2, ensure_ascii=False))
        return 0
    for t in found:
        shown = t["title"] if t["problem"] is None else f"damaged: {t['problem']}"
        print(f"{t['name']:32s} {t['origin']:7s} {t['kind'] or '-':15s} {shown}")
    return 0


def _show(args: argparse.Namespace) -> int:
    from core.task_builder import preview_prompt
    from core.tasks import available_splits, load_split, load_task, task_folder

    task = load_task(args.name)
    splits = {s: len(load_split(task.name, s)) for s in available_splits(task.name)}
    first = next((load_split(task.name, s, 1)[0] for s in ("train", "test") if s in splits), None)
    prompt = preview_prompt(task, str(first[task.input_field])) if first else None
    info = {"name": task.name, "title": task.title, "origin": task.origin, "kind": task.kind,
            "folder": str(task_folder(task.name)), "fingerprint": task.fingerprint,
            "splits": splits, "labels": list(task.labels), "input": task.input_field,
            "label": task.label_field, "preview_prompt": prompt}
    if args.json:
        print(json.dumps(info, indent=2, ensure_ascii=False))
        return 0
    print(f"{task.name} ({task.origin}, {task.kind}): {task.title}")
    print(f"folder: {info['folder']}")
    print("splits: " + ", ".join(f"{s} {n:,}" for s, n in splits.items()))
    if task.labels:
        print("labels: " + ", ".join(task.labels))
    print(f"fingerprint: {task.fingerprint}")
    if prompt is not None:
        print("prompt for the first example:\n" + prompt)
    return 0


def read_schema_file(path: str | None) -> str | None:
    """The text of a JSON Schema file named on the command line (generate, tasks create)."""
    from core.errors import ConfigError

    if path is None:
        return None
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"Could not read the JSON Schema file {path}: {exc}",
                          "Give the path of a UTF-8 text file holding a JSON Schema.") from exc


def _create(args: argparse.Namespace) -> int:
    from core.task_builder import create_task, plan_task, task_request
    from core.task_sources import read_source

    source = read_source(args.source, args.config, args.split)
    labels = tuple(x.strip() for x in args.labels.split(",")) if args.labels else None
    request = task_request(args.name, source, kind=args.kind, input_column=args.input,
                           label_column=args.label, labels=labels, instruction=args.instruction,
                           template=args.template, schema=read_schema_file(args.schema),
                           collection=args.collection, title=args.title, seed=args.seed,
                           test_size=args.test_size, validation_size=args.validation_size,
                           source=None if source.task else f"Made from {args.source}.")
    draft = plan_task(request, source)
    for line in draft.summary():
        print(line)
    print("prompt for the first example:\n" + draft.preview_prompt())
    if args.dry_run:
        print("dry run: nothing was written")
        return 0
    task = create_task(draft)
    print(f"created task {task.name!r} (fingerprint {task.fingerprint})")
    return 0


def _export(args: argparse.Namespace) -> int:
    from core.task_builder import export_task

    print(f"exported: {export_task(args.name, args.dest, zip=args.zip)}")
    return 0


def _rename(args: argparse.Namespace) -> int:
    from core.tasks import rename_task

    rename_task(args.name, args.new_name)
    print(f"renamed {args.name!r} to {args.new_name!r}")
    return 0


def _delete(args: argparse.Namespace) -> int:
    from core.tasks import delete_task

    delete_task(args.name)
    print(f"deleted {args.name!r}")
    return 0
