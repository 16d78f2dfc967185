"""Score the objectives' rung items inside the training loop (see evaluate/rung_metric.py).

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

    def score(self, model, device, batch_size: int | None = None) -> dict[str, float]:
        """{objective: gold BPB over its items} (sum of -log2 p over sum of bytes). On a GPU,
        items of similar length are right-padded into batches of 16; on a CPU one at a time
        (padding made the demo model's rung 1.5x slower there: 0.53 s vs 0.37 s)."""
        # imported here, not at the top: torch: 1.4 s to import
        import torch
        import torch.nn.functional as F

        if batch_size is None:
            batch_size = 16 if getattr(device, "type", device) == "cuda" else 1
        out = {}
        model.eval()
        with torch.no_grad():
            for name, items in self.items.items():
                items = sorted(items, key=lambda it: len(it[0]))  # similar lengths: less padding
                nll, n_bytes = 0.0, 0
                for start in range(0, len(items), batch_size):
                    chunk = items[start : start + batch_size]
                    width = max(len(ids) for ids, _, _ in chunk)
                    x = torch.zeros((len(chunk), width), dtype=torch.long)
                    for row, (ids, _, _) in enumerate(chunk):
                        x[row, : len(ids)] = torch.tensor(ids)
                    # Right padding under causal attention: no real token sees a pad, so no
                    # attention mask is needed (and SDPA keeps its causal fast path).
                    logits = model(input_ids=x.to(device)).logits.float()
                    logp = -F.cross_entropy(
                        logits[:, :-1].transpose(1, 2), x[:, 1:], reduction="none"
                    )
                    for row, (ids, n_cont, b) in enumerate(chunk):
                        end = len(ids) - 1  # logp[t] scores token t + 1
                        nll -= float(logp[row, end - n_cont : end].sum())
                        n_bytes += b
                out[name] = nll / math.log(2) / max(1, n_bytes)
        model.train()
        return out


def rung_metric(history: list[dict[str, float]]) -> float:
    """The rung scalar: mean over objectives of their BPB, averaged over the last two reports
    (Signal and Noise: averaging the last checkpoints halves checkpoint-to-checkpoint noise)."""
    last = history[-2:]
    return float(np.mean([np.mean(list(h.values())) for h in last]))
