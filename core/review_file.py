"""Ratings files: the small JSON file a reviewer saves from the offline review page, and that the
lab imports into the comparison it was made for.

The file carries pair ids and votes only, never setup names: the lab maps each pair id back to its
two setups from the comparison's own results. So a file is checked against that comparison before
anything is written: another comparison's file, a hand-edited vote for a pair the comparison does
not have, or a vote that is not one of the four is refused whole, with what to do, and the lab's
votes stay as they were. The file's sha256 is recorded, so importing it twice counts it once.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime

import jsonschema

from core import review_store
from core.compare_runs import load_results
from core.errors import ConfigError
from core.review import VOTES, all_pairs, pack_id
from core.review_store import JUDGE_PREFIX, Rating

FORMAT = "prompttune-lab-ratings"
VERSION = 1
MAX_BYTES = 5 * 2**20  # a review of 1,000 pairs is ~80 KB; anything far larger is not one
SAVE_AGAIN = ("Import the file the review page's \"Save ratings file\" button downloaded "
              "(ratings-<comparison>-<name>.json), as it was saved.")
SCHEMA = {
    "type": "object",
    "required": ["format", "version", "comparison", "reviewer", "ratings"],
    "properties": {
        "format": {"const": FORMAT}, "version": {"const": VERSION},
        "comparison": {"type": "string", "minLength": 1}, "pack": {"type": "string"},
        "reviewer": {"type": "string"},
        "ratings": {"type": "array", "items": {
            "type": "object", "required": ["pair", "vote"],
            "properties": {"pair": {"type": "string"}, "vote": {"enum": list(VOTES)},
                           "at": {"type": "string"}}}},
    },
}


@dataclass(frozen=True)
class ImportResult:
    """What an import did: ``votes`` the file's votes (counted once), by ``reviewer``;
    ``already_imported`` when the same file was imported before; ``message`` says it."""

    votes: int
    reviewer: str
    already_imported: bool
    message: str


def _read_json(data: bytes, file_name: str) -> dict:
    """The file's JSON object, or a ConfigError saying why it is not a ratings file."""
    if len(data) > MAX_BYTES:
        raise ConfigError(f"{file_name} is {len(data) / 2**20:.0f} MB: a ratings file is a few "
                          "KB, so this is not one.", SAVE_AGAIN)
    try:
        parsed = json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{file_name} is not a ratings file: it is not UTF-8 text.",
                          SAVE_AGAIN) from exc
    except (json.JSONDecodeError, RecursionError) as exc:
        where = f" (line {exc.lineno})" if isinstance(exc, json.JSONDecodeError) else ""
        raise ConfigError(f"{file_name} is not a ratings file: it is not valid JSON{where}.",
                          SAVE_AGAIN) from exc
    if not isinstance(parsed, dict) or parsed.get("format") != FORMAT:
        what = "the review page itself (a pack of pairs), not the ratings saved from it" \
            if isinstance(parsed, dict) and parsed.get("format") == "prompttune-lab-review" \
            else f'JSON without "format": "{FORMAT}"'
        raise ConfigError(f"{file_name} is not a ratings file: it is {what}.", SAVE_AGAIN)
    if parsed.get("version") != VERSION:
        raise ConfigError(f"{file_name} is a ratings file of version {parsed.get('version')!r}; "
                          f"this lab reads version {VERSION}.",
                          "Save the ratings again from a report made by this lab, or import the "
                          "file into the lab that made its report.")
    return parsed


def _where(error: jsonschema.ValidationError) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)[1:] \
        if error.absolute_path else "the top level"


def _validate(parsed: dict, file_name: str) -> None:
    """The file's fields checked against SCHEMA; a vote not one of the four is named."""
    errors = sorted(jsonschema.Draft202012Validator(SCHEMA).iter_errors(parsed),
                    key=lambda e: list(map(str, e.absolute_path)))
    if not errors:
        return
    error = errors[0]
    if list(error.absolute_path)[-1:] == ["vote"]:
        words = ", ".join(repr(v) for v in VOTES)
        bad = sum(1 for r in parsed["ratings"] if isinstance(r, dict) and r.get("vote") not in VOTES)
        raise ConfigError(f"{file_name} holds {bad} vote(s) that are not one of the four ({words}):"
                          f" the first is {error.instance!r} at {_where(error)}; nothing was "
                          "imported.", "The file was edited by hand: " + SAVE_AGAIN)
    raise ConfigError(f"{file_name} is not a valid ratings file at {_where(error)}: "
                      f"{error.message}; nothing was imported.", SAVE_AGAIN)


def _checked(parsed: dict, comparison_id: str, file_name: str) -> str:
    """The reviewer's name, once the file is known to be for this comparison."""
    if parsed["comparison"] != comparison_id:
        other = parsed["comparison"]
        raise ConfigError(f"{file_name} is for comparison {other}, not {comparison_id}: open "
                          f"comparison {other}'s Results and import it there.",
                          f"Pick comparison {other} on the Compare page, then import the file.")
    try:
        return review_store.check_reviewer(parsed["reviewer"], _source(parsed["reviewer"]))
    except ConfigError as exc:
        raise ConfigError(f"{file_name}: {exc.problem} Nothing was imported.",
                          "Type the reviewer's name in the review page's name field and save "
                          "the ratings file again.") from exc


def _source(reviewer: str) -> str:
    return "judge" if reviewer.strip().startswith(JUDGE_PREFIX) else "file"


def _at(value: object) -> str:
    """The vote's time as the file says, or now where the file's is not a date and time."""
    try:
        return datetime.fromisoformat(str(value)).isoformat(timespec="seconds")
    except ValueError:
        return review_store.now()


def _votes(parsed: dict, comparison_id: str, reviewer: str, file_name: str) -> list[Rating]:
    """The file's votes as ratings (a pair voted twice: the later vote), each pair mapped back
    to its setups; a ConfigError naming pairs this comparison does not have."""
    pairs = all_pairs(load_results(comparison_id))
    unknown = list(dict.fromkeys(r["pair"] for r in parsed["ratings"] if r["pair"] not in pairs))
    if unknown:
        first = ", ".join(unknown[:3]) + (", ..." if len(unknown) > 3 else "")
        raise ConfigError(f"{file_name} holds votes for {len(unknown)} pair(s) comparison "
                          f"{comparison_id} does not have (first: {first}): it was edited by hand "
                          "or made for another comparison. Nothing was imported.",
                          "Import the ratings file as the review page saved it, into the "
                          "comparison whose report the review was done in.")
    latest = {r["pair"]: r for r in parsed["ratings"]}
    source = _source(reviewer)
    return [Rating(pid, reviewer, pairs[pid].setup_a, pairs[pid].setup_b, r["vote"], source,
                   _at(r.get("at"))) for pid, r in latest.items()]


def import_ratings(comparison_id: str, data: bytes, file_name: str) -> ImportResult:
    """Import a ratings file into the comparison: all of its votes or, where anything is wrong
    with it, none (a ConfigError says what and how to fix it). A reviewer's vote on a pair
    replaces their earlier one; the same file imported again is counted once."""
    parsed = _read_json(data, file_name)
    _validate(parsed, file_name)
    reviewer = _checked(parsed, comparison_id, file_name)
    votes = _votes(parsed, comparison_id, reviewer, file_name)
    if not votes:
        raise ConfigError(f"{file_name} holds no votes.",
                          "Rate at least one pair in the review page, then save the file again.")
    sha = hashlib.sha256(data).hexdigest()
    record, new = review_store.import_votes(comparison_id, sha, votes, reviewer)
    if not new:
        return ImportResult(record.votes, record.reviewer, True,
                            f"{file_name} was already imported on {record.imported_at[:10]}: its "
                            f"{record.votes} votes are counted once.")
    return ImportResult(record.votes, reviewer, False,
                        f"Imported {record.votes} votes by {reviewer} from {file_name}.")


def export_ratings(comparison: str, reviewer: str) -> bytes:
    """One reviewer's votes on the comparison as a ratings file (the offline page's format), so
    a review can move to another lab; a ConfigError when they have none."""
    name = reviewer.strip()
    mine = [r for r in review_store.ratings(comparison) if r.reviewer == name]
    if not mine:
        raise ConfigError(f"{name or 'This reviewer'} has no votes on comparison {comparison}.",
                          "Rate some pairs first, or pick a reviewer who has.")
    body = {"format": FORMAT, "version": VERSION, "comparison": comparison,
            "pack": pack_id([r.pair for r in mine]), "reviewer": name,
            "ratings": [{"pair": r.pair, "vote": r.vote, "at": r.created_at} for r in mine]}
    return json.dumps(body, indent=1, ensure_ascii=False).encode("utf-8")


def ratings_file_name(comparison: str, reviewer: str) -> str:
    """The file name the offline page and the lab give a ratings file."""
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", reviewer.strip()).strip("-") or "reviewer"
    return f"ratings-{comparison}-{slug}.json"
