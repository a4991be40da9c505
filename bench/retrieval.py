"""Retrieval and RAG benchmarks on the sample handbook and its 80 questions.

- Index build time (read, chunk, embed, faiss), query latency, and hit rate at
  k = 1, 3, 5: the reference passage (its evidence sentence, or for the HTML
  page its document) among the top k chunks.
- Answers without and with the retrieved passages on the embedded model:
  containment of the reference answer and token F1, the metrics the
  comparison page computes.
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import time

from core.config import GenerationParams, ModelSpec
from core.engines import load_engine
from core.knowledge import ASSETS, SAMPLE_COLLECTION, build_collection, sample_documents, search
from core.metrics import contains_answer, token_f1
from core.rag import RagConfig, build_rag_prompt, plain_question_prompt


def _questions() -> list[dict]:
    path = ASSETS / SAMPLE_COLLECTION / "questions.jsonl"
    return [json.loads(line) for line in path.open(encoding="utf-8")]


def _is_hit(hit, question: dict) -> bool:
    evidence = " ".join(question["evidence"].split()[:8])  # the start survives chunk borders
    return hit.chunk.doc == question["doc"] and (evidence in hit.chunk.text
                                                 or question["doc"].endswith(".html"))


def bench_retrieval(answers: int = 40) -> dict:
    os.environ["PROMPTTUNE_HOME"] = tempfile.mkdtemp(prefix="bench-rag-")
    docs = sample_documents()
    started = time.perf_counter()
    info = build_collection("bench", docs)
    out: dict = {"documents": len(docs), "chunks": info.chunks,
                 "index_build_s": round(time.perf_counter() - started, 2)}
    questions = _questions()
    latencies, ranks = [], []
    for question in questions:
        started = time.perf_counter()
        hits = search("bench", question["question"], k=5)
        latencies.append(time.perf_counter() - started)
        ranks.append(next((h.rank for h in hits if _is_hit(h, question)), None))
    out["query_latency_ms_median"] = round(statistics.median(latencies) * 1000, 1)
    for k in (1, 3, 5):
        out[f"hit_rate_at_{k}"] = round(sum(r is not None and r <= k for r in ranks) / len(ranks), 3)
    engine = load_engine(ModelSpec())
    config = RagConfig("bench", top_k=3)
    scores = {"without": ([], []), "with": ([], [])}
    for question in questions[:answers]:
        rag = build_rag_prompt(config, question["question"])
        params = GenerationParams(max_new_tokens=32, stop=rag.stops)
        for name, prompt in (("without", plain_question_prompt(question["question"])), ("with", rag.text)):
            answer = engine.generate(prompt, params).text
            scores[name][0].append(contains_answer(answer, question["answer"]))
            scores[name][1].append(token_f1(answer, question["answer"]))
    out["answered_questions"] = min(answers, len(questions))
    for name, (contains, f1) in scores.items():
        out[f"{name}_rag_contains_answer"] = round(statistics.mean(contains), 3)
        out[f"{name}_rag_token_f1"] = round(statistics.mean(f1), 3)
    return out
