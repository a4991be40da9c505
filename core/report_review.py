"""The review parts of the offline HTML report: a blind review a stakeholder does inside the
file itself, and the "Reviews by people" section drawn from ``core.review_stats.summary``.

The blind review needs no server and no network: the pack (``core.review.pack``: pairs of
answers, never the setups' names) rides in the page as JSON, the page's own script shows it,
keeps the votes in the browser's localStorage (keyed by the pack, so a reload keeps them; in
memory only where the browser refuses storage, as some do on file://) and saves the ratings
file (``core.review_file``'s format) through a Blob and an ``<a download>``.
"""

from __future__ import annotations

import html
import json
from typing import Any

import pandas as pd

from core.errors import ConfigError

PACK_FORMAT = "prompttune-lab-review"
RESULTS_FOLD = "Results (open after your review: they name the setups)"

REVIEW_CSS = """.pt-review{border:2px solid #636efa;border-radius:8px;padding:.5em 1.2em 1em;
margin:1.5em 0}.pt-review .pt-text{white-space:pre-wrap;background:#f6f6f6;padding:.6em .8em;
border-radius:4px;min-height:2em}.pt-answers{display:grid;grid-template-columns:1fr 1fr;gap:1em}
.pt-review button{font-size:1em;padding:.45em .9em;margin:.3em .3em .3em 0;cursor:pointer}
.pt-buttons button.pt-chosen{background:#636efa;color:#fff}.pt-review progress{width:60%}
.pt-msg{color:#8a5300;min-height:1.2em}.pt-keys{color:#555;font-size:.9em}
.pt-results>summary{font-size:1.3em;font-weight:bold;cursor:pointer;margin:1em 0}"""

# The page's script: everything it shows comes from the pack as text (textContent, never
# innerHTML), because answers are model output and may hold markup.
REVIEW_JS = r"""(function () {
  var PACK = JSON.parse(document.getElementById("pt-review-pack").textContent);
  var VOTES = {a: "A", b: "B", t: "tie", x: "both_bad"};
  var WORDS = {A: "A is better", B: "B is better", tie: "Tie", both_bad: "Both bad"};
  var KEY = "prompttune-review-" + PACK.pack, n = PACK.pairs.length;
  var $ = function (id) { return document.getElementById(id); };
  var state = {reviewer: "", votes: {}, index: 0};
  var store = null;
  try {  // some browsers refuse storage to a file opened from disk: keep votes in memory then
    store = window.localStorage;
    store.setItem(KEY + "-probe", "1"); store.removeItem(KEY + "-probe");
  } catch (e) { store = null; }

  function load() {
    if (!store) return;
    try {
      var kept = JSON.parse(store.getItem(KEY) || "{}"), ids = {};
      PACK.pairs.forEach(function (p) { ids[p.pair] = true; });
      state.reviewer = typeof kept.reviewer === "string" ? kept.reviewer : "";
      Object.keys(kept.votes || {}).forEach(function (id) {
        var v = kept.votes[id];
        if (ids[id] && v && WORDS[v.vote]) state.votes[id] = {vote: v.vote, at: String(v.at)};
      });
    } catch (e) { /* a damaged entry: start afresh */ }
  }
  function keep() {
    if (!store) return;
    try { store.setItem(KEY, JSON.stringify({reviewer: state.reviewer, votes: state.votes})); }
    catch (e) { say("This browser stopped keeping your votes: save the ratings file now."); }
  }
  function say(text) { $("pt-msg").textContent = text; }
  function rated() { return Object.keys(state.votes).length; }
  function firstUnrated(from) {
    for (var i = 0; i < n; i++) {
      var k = (from + i) % n;
      if (!state.votes[PACK.pairs[k].pair]) return k;
    }
    return -1;
  }
  function name() { return $("pt-name").value.trim(); }

  function show() {
    var pair = PACK.pairs[state.index], vote = state.votes[pair.pair];
    $("pt-position").textContent = "Pair " + (state.index + 1) + " of " + n;
    $("pt-input").textContent = pair.input;
    $("pt-reference").textContent = pair.reference == null ? "" : pair.reference;
    $("pt-ref-box").hidden = pair.reference == null || pair.reference === "";
    $("pt-a").textContent = pair.a;
    $("pt-b").textContent = pair.b;
    $("pt-progress").value = rated();
    $("pt-count").textContent = rated() + " of " + n + " rated";
    $("pt-your-vote").textContent = vote ? "Your vote: " + WORDS[vote.vote] : "Not rated yet";
    document.querySelectorAll(".pt-buttons [data-vote]").forEach(function (b) {
      b.classList.toggle("pt-chosen", !!vote && b.dataset.vote === vote.vote);
    });
    $("pt-back").disabled = state.index === 0;
    $("pt-next").disabled = state.index === n - 1;
    if (rated() === n) say("All " + n + " pairs rated. Save the ratings file and send it " +
                           "to whoever sent you this report.");
  }
  function vote(choice) {
    if (!name()) {
      say("Type your name first: the ratings file says who rated.");
      $("pt-name").focus();
      return;
    }
    state.reviewer = name();
    state.votes[PACK.pairs[state.index].pair] = {vote: choice, at: new Date().toISOString()};
    keep();
    say("");
    var next = firstUnrated((state.index + 1) % n);
    state.index = next >= 0 ? next : Math.min(state.index + 1, n - 1);
    show();
  }
  function move(step) {
    state.index = Math.max(0, Math.min(n - 1, state.index + step));
    show();
  }
  function fileName(reviewer) {
    var slug = reviewer.replace(/[^A-Za-z0-9_.-]+/g, "-").replace(/^-+|-+$/g, "") || "reviewer";
    return "ratings-" + PACK.comparison + "-" + slug + ".json";
  }
  function save() {
    if (!name()) { say("Type your name first: the ratings file says who rated."); return; }
    if (!rated()) { say("Rate at least one pair first."); return; }
    state.reviewer = name();
    keep();
    var ratings = PACK.pairs.filter(function (p) { return state.votes[p.pair]; })
      .map(function (p) {
        var v = state.votes[p.pair];
        return {pair: p.pair, vote: v.vote, at: v.at};
      });
    var file = {format: "prompttune-lab-ratings", version: 1, comparison: PACK.comparison,
                pack: PACK.pack, reviewer: state.reviewer, ratings: ratings};
    var blob = new Blob([JSON.stringify(file, null, 1)], {type: "application/json"});
    var link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = fileName(state.reviewer);
    document.body.appendChild(link);
    link.click();
    link.remove();
    setTimeout(function () { URL.revokeObjectURL(link.href); }, 10000);
    say("Saved " + link.download + " (" + ratings.length + " of " + n + " pairs rated). " +
        "Send it back: the lab imports it on the comparison's Results.");
  }

  document.querySelectorAll(".pt-buttons [data-vote]").forEach(function (b) {
    b.addEventListener("click", function () { vote(b.dataset.vote); });
  });
  $("pt-back").addEventListener("click", function () { move(-1); });
  $("pt-next").addEventListener("click", function () { move(1); });
  $("pt-save").addEventListener("click", save);
  $("pt-name").addEventListener("input", function () { state.reviewer = name(); keep(); });
  $("pt-name").addEventListener("keydown", function (e) {
    if (e.key === "Enter") e.target.blur();  // done typing: the keys vote again
  });
  document.addEventListener("keydown", function (e) {
    var t = e.target, tag = t && t.tagName;
    if (e.ctrlKey || e.metaKey || e.altKey || tag === "INPUT" || tag === "TEXTAREA" ||
        tag === "SELECT" || (t && t.isContentEditable)) return;  // typing, not voting
    var key = e.key.toLowerCase();
    if (VOTES[key]) vote(VOTES[key]);
    else if (e.key === "ArrowLeft") move(-1);
    else if (e.key === "ArrowRight") move(1);
    else return;
    e.preventDefault();
  });
  load();
  $("pt-name").value = state.reviewer;
  if (!store) say("This browser does not let the page keep your votes: save the ratings " +
                  "file before you close it.");
  var first = firstUnrated(0);
  state.index = first >= 0 ? first : 0;
  show();
})();"""

BUTTONS = (("A", "A is better (A)"), ("B", "B is better (B)"), ("tie", "Tie (T)"),
           ("both_bad", "Both bad (X)"))


def check_pack(pack: dict[str, Any]) -> None:
    """Refuse what cannot make a review page: not a pack, or a pack without pairs."""
    if not isinstance(pack, dict) or pack.get("format") != PACK_FORMAT:
        raise ConfigError("The review to put in the report is not a review pack.",
                          "Build it with core.review.pack(results, pairs).")
    if not pack.get("pairs"):
        raise ConfigError("The review has no pairs to rate.",
                          "Pick setups whose answers differ on at least one example.")


def pack_json(pack: dict[str, Any]) -> str:
    """The pack as JSON safe inside <script>: no "<" at all, so no answer can close the tag
    or open a comment (the JSON parser reads \\u003c back as "<")."""
    text = json.dumps(pack, ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _intro(pack: dict[str, Any]) -> str:
    n = len(pack["pairs"])
    return (f"<p>{n} pairs of answers to the same input by two setups of "
            f"{html.escape(str(pack.get('task') or 'this task'))}, their names hidden and their "
            "order random. Say which answer is better, or that they tie, or that both are bad. "
            "Your votes stay in this browser (a reload keeps them). When you are done, press "
            "<b>Save ratings file</b> and send the file back: the lab imports it into "
            f"comparison {html.escape(str(pack.get('comparison')))}.</p>"
            "<noscript><p class=\"pt-msg\">This review needs JavaScript: allow it for this "
            "file.</p></noscript>")


def _card(n: int) -> str:
    buttons = "".join(f'<button type="button" data-vote="{v}">{html.escape(w)}</button>'
                      for v, w in BUTTONS)
    return (
        '<p><label>Your name (required before the first vote) <input id="pt-name" '
        'maxlength="60" autocomplete="name"></label></p>'
        f'<p><progress id="pt-progress" max="{n}" value="0"></progress> '
        f'<span id="pt-count">0 of {n} rated</span></p><p id="pt-msg" class="pt-msg" '
        'role="status"></p><h3 id="pt-position">Pair 1 of ' + str(n) + "</h3>"
        '<h4>Input</h4><div id="pt-input" class="pt-text"></div>'
        '<details id="pt-ref-box"><summary>Show the reference answer</summary>'
        '<div id="pt-reference" class="pt-text"></div></details>'
        '<div class="pt-answers"><div><h4>Answer A</h4><div id="pt-a" class="pt-text"></div>'
        '</div><div><h4>Answer B</h4><div id="pt-b" class="pt-text"></div></div></div>'
        f'<div class="pt-buttons">{buttons}<button type="button" id="pt-back">Back</button>'
        '<button type="button" id="pt-next">Next</button></div><p id="pt-your-vote"></p>'
        '<p><button type="button" id="pt-save">Save ratings file</button></p>'
        '<p class="pt-keys">Keys: A, B, T and X vote and move on; ← and → move between '
        "pairs (not while you type your name).</p>")


def review_html(pack: dict[str, Any]) -> str:
    """The blind review as one self-contained section: the card, the pack as JSON, the script.
    Nothing in it names a setup: the pack carries none."""
    check_pack(pack)
    return (f'<section id="pt-review" class="pt-review"><h2>Blind review</h2>{_intro(pack)}'
            f"{_card(len(pack['pairs']))}</section>\n"
            f'<script type="application/json" id="pt-review-pack">{pack_json(pack)}</script>\n'
            f"<script>{REVIEW_JS}</script>")


def fold_results(body: str) -> str:
    """The report's sections behind a <details> a reviewer opens only after rating: they name
    the setups. Opening it redraws the charts, which were laid out while hidden."""
    return (f'<details class="pt-results" id="pt-results"><summary>{html.escape(RESULTS_FOLD)}'
            f"</summary>\n{body}\n</details><script>document.getElementById('pt-results')"
            ".addEventListener('toggle',function(){window.dispatchEvent(new Event('resize'))})"
            "</script>")


# --- "Reviews by people": what core.review_stats.summary found -------------------------------

CAPTIONS = {
    "Win rates": "How often each setup's answer was preferred to the other's, with its 95% "
                 "interval: a tie counts half a win; \"both bad\" is counted apart, outside "
                 "the rate.",
    "Ranking": "Every setup on one scale (Bradley-Terry, from people's votes), with its 95% "
               "interval and the chance that it is truly the best.",
    "Agreement": "How often two reviewers gave the same vote to the same pair (Cohen's kappa: "
                 "0 is chance, 1 is full agreement); a judge is set beside the people, never "
                 "counted among them.",
}


def who_rated(summary: dict[str, Any]) -> str:
    """"40 votes on 20 pairs by 2 people: Dana (20), Lee (20)." then any judge, apart."""
    people = summary.get("reviewers") or {}
    named = ", ".join(f"{k} ({v})" for k, v in sorted(people.items()))
    said = (f"{summary.get('votes', 0)} votes on {summary.get('pairs', 0)} pairs by "
            f"{len(people)} {'person' if len(people) == 1 else 'people'}: {named}.")
    judges = summary.get("judges") or []
    if judges:
        said += (" Judges (models; never counted in the win rates or the ranking): "
                 + ", ".join(j["judge"].removeprefix("judge: ") for j in judges) + ".")
    return said


def people_html(summary: dict[str, Any] | None) -> str:
    """The "Reviews by people" section: who rated, win rates, ranking, agreement in words and
    as a table, each judge against the people in words (the report's own table style)."""
    from core.report import _table_html
    from core.review_stats import summary_tables

    if not summary or not summary.get("votes"):
        return "<p>No one has rated this comparison's answers yet.</p>"
    tables = summary_tables(summary)
    parts = [f"<p>{html.escape(who_rated(summary))}</p>"]
    for key, caption in CAPTIONS.items():
        parts.append(f"<h3>{html.escape(key)}</h3><p>{html.escape(caption)}</p>")
        if key == "Agreement":
            words = [(summary.get("agreement") or {}).get("words")]
            words += [j.get("words") for j in summary.get("judges") or []]
            parts += [f"<p>{html.escape(w)}</p>" for w in words if w]
        table = tables.get(key)
        if table is not None and not table.empty:
            parts.append(_table_html(table))
        elif key != "Agreement":  # the agreement's words already say what is missing
            parts.append("<p>Not enough votes yet: this needs votes on two setups.</p>")
    return "\n".join(parts)
