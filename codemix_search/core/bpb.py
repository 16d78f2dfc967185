"""Continuous scores of a model on eval items, as lm-eval's ``process_results`` functions.

Accuracy of a 1-100M-parameter proxy sits near chance on most tasks, so its differences between
mixtures are the size of its binomial noise (SIGNAL.md: SE ~0.03 on 200 items). The probability
the model gives the gold answer moves long before the argmax flips, so proxies are scored by:

- gold bits-per-byte (OLMES ``bits_per_byte_corr``, Olmix): ``-log2 p(gold | context)`` over the
  UTF-8 bytes of exactly the string lm-eval scored, lower is better;
- Brier score over the choices (multiple choice; lm-eval's own ``brier_score`` aggregation).

The bytes: lm-eval's ``TemplateLM._encode_pair`` moves the context's trailing whitespace onto the
continuation, and multiple-choice continuations start with ``target_delimiter`` (a space). The
scored string is therefore ``trailing_ws(context) + delimiter + answer``; counting only the
answer inflates BPB by up to 2x on one-word answers (e.g. " Paris": 6 bytes, not 5).

Each item's contribution is ``(loglikelihood, n_bytes)``; lm-eval's ``bits_per_byte``
aggregation sums both over items (``-sum(ll) / sum(bytes) / ln 2``), the corpus-level BPB.
"""

from __future__ import annotations

import math

DELIMITER = " "  # lm-eval's default target_delimiter for multiple_choice
LN2 = math.log(2)


def scored_continuation(context: str, continuation: str) -> str:
    """The string lm-eval scores for (context, continuation): the context's trailing whitespace
    (spaces, newlines: ``str.rstrip``) moves onto the continuation."""
    n = len(context) - len(context.rstrip())
    return (context[-n:] if n else "") + continuation


def scored_bytes(context: str, continuation: str) -> int:
    return len(scored_continuation(context, continuation).encode("utf-8"))


def item_bpb(loglikelihood: float, n_bytes: int) -> float:
    """One item's bits per byte (the report's per-item values; the metric aggregates sums)."""
    return -loglikelihood / LN2 / max(1, n_bytes)


def softmax(lls: list[float]) -> list[float]:
    m = max(lls)
    e = [math.exp(x - m) for x in lls]
    s = sum(e)
    return [x / s for x in e]


def multiple_choice(context: str, choices: list[str], gold: int, results) -> dict:
    """lm-eval's multiple-choice scores (``results``: one ``(loglikelihood, is_greedy)`` per
    choice, scored as ``context + delimiter + choice``) plus the gold answer's BPB in cloze form
    and the Brier score (lm-eval's aggregation takes ``(gold, probabilities)``)."""
    lls = [float(r[0]) for r in results]
    pred = max(range(len(lls)), key=lambda i: lls[i])
    pred_norm = max(range(len(lls)), key=lambda i: lls[i] / max(1, len(choices[i])))
    return {
        "acc": float(pred == gold),
        "acc_norm": float(pred_norm == gold),
        "brier_score": (gold, softmax(lls)),
        "gold_bpb": (lls[gold], scored_bytes(context, DELIMITER + choices[gold])),
    }


def reference(context: str, target: str, results) -> dict:
    """A loglikelihood task (``results``: one ``(loglikelihood, is_greedy)`` of ``target`` after
    ``context``; lm-eval adds no delimiter there): the reference's BPB and its mean
    log-likelihood per item."""
    ll = float(results[0][0])
    return {
        "gold_bpb": (ll, scored_bytes(context, target)),
        "continuation_likelihood": ll,
    }


def metric_list(*names: str) -> list[dict]:
    """lm-eval ``metric_list`` entries for the metrics above (aggregation and direction)."""
    spec = {
        "acc": ("mean", True),
        "acc_norm": ("mean", True),
        "brier_score": ("brier_score", False),
        "gold_bpb": ("bits_per_byte", False),
        "continuation_likelihood": ("mean", True),
    }
    return [{"metric": n, "aggregation": spec[n][0], "higher_is_better": spec[n][1]} for n in names]
