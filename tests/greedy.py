"""transformers' view of a greedy path that llama.cpp took: the two engines' parity tests share it."""

from __future__ import annotations

import torch


def choices_along(model, ids: list[int], path: list[int]) -> list[tuple[bool, float]]:
    """For each token of ``path`` (generated after prompt ``ids``): whether transformers'
    greedy choice at that step is the same token, and the gap in nats between its choice and
    the path's token (0 where they agree)."""
    with torch.no_grad():
        logits = model(torch.tensor([ids + path])).logits[0].float()
    logp = torch.log_softmax(logits, -1)
    steps = []
    for step, token in enumerate(path):
        row = logp[len(ids) - 1 + step]
        top = int(row.argmax())
        steps.append((top == token, float(row[top] - row[token])))
    return steps
