"""Score the objectives' rung items inside the training loop (see evaluate/rung.py).

Tokenised once with lm-eval's rule (``TemplateLM._encode_pair``: the context's trailing
whitespace moves onto the continuation; the continuation's tokens are those of the whole string
after the context's), so a rung's BPB is the final lm-eval score's, on fewer items.
"""

from __future__ import annotations

import math

import numpy as np


class RungScorer:
    def __init__(self, pairs: dict[str, list[tuple[str, str]]], tokenizer, max_len: int):
        self.items: dict[str, list[tuple[list[int], int, int]]] = {}
        for name, rows in pairs.items():
            items = []
            for context, continuation in rows:
                n = len(context) - len(context.rstrip())
                if n:
                    context, continuation = context[:-n], context[-n:] + continuation
                ctx = tokenizer(context, add_special_tokens=False)["input_ids"]
                whole = tokenizer(context + continuation, add_special_tokens=False)["input_ids"]
                ids = whole[-max_len:]
                n_cont = min(len(whole) - len(ctx), len(ids) - 1)
                if n_cont > 0:
                    items.append((ids, n_cont, len(continuation.encode("utf-8"))))
            self.items[name] = items

    def score(self, model, device) -> dict[str, float]:
        """{objective: gold BPB over its items} (sum of -log2 p over sum of bytes)."""
        import torch
        import torch.nn.functional as F

        out = {}
        model.eval()
        with torch.no_grad():
            for name, items in self.items.items():
                nll, n_bytes = 0.0, 0
                for ids, n_cont, b in items:
                    x = torch.tensor([ids], device=device)
                    logits = model(input_ids=x).logits[0, :-1].float()
                    target = x[0, 1:]
                    lp = -F.cross_entropy(logits[-n_cont:], target[-n_cont:], reduction="sum")
                    nll -= float(lp)
                    n_bytes += b
                out[name] = nll / math.log(2) / max(1, n_bytes)
        model.train()
        return out


def rung_metric(history: list[dict[str, float]]) -> float:
    """The rung scalar: mean over objectives of their BPB, averaged over the last two reports
    (Signal and Noise: averaging the last checkpoints halves checkpoint-to-checkpoint noise)."""
    last = history[-2:]
    return float(np.mean([np.mean(list(h.values())) for h in last]))
