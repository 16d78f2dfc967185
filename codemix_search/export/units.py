"""A recipe's weights in other units, and what a target budget asks of each source (pure maths;
no I/O, no tokenizer).

The search measures mixtures as shares of TOKENS under the proxy's own small BPE tokenizer. A
lab trains with its own tokenizer (often 100k+ entries), and code, diffs and prose compress very
differently under different tokenizers (on the demo data, code is ~2x the bytes per proxy token
of commit diffs), so the same token shares are another mix of bytes. Bytes are the common unit:

    byte share_s        ~ w_s * b_s(proxy)            (b = UTF-8 bytes per token)
    target token share_s ~ w_s * b_s(proxy) / b_s(target)

``b_s`` is a ratio estimate over a sample of documents (sum of bytes / sum of tokens, each
document's end-of-text token counted: trainers sample it too), with its standard error from the
documents' scatter (delta method, finite-population corrected: a full pass has SE 0).

A target budget (``--target-tokens 300B``) asks ``T * phase_share * w_s`` tokens of source ``s``
per phase; against the tokens available, that is a number of epochs. Repeating data beyond ~4
epochs is worth much less than fresh data (Muennighoff et al. 2023, "Scaling Data-Constrained
Language Models"; Olmix caps each source's repetition), so a recipe needing more is refused, or
with ``rebalance`` the excess moves to the other sources of each phase in proportion to their
weights.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

DEFAULT_MAX_EPOCHS = 4.0
_SUFFIX = {"": 1.0, "K": 1e3, "M": 1e6, "B": 1e9, "G": 1e9, "T": 1e12}


class UnitsError(ValueError):
    """A budget, availability or cap that cannot be met; the message names the fix."""


@dataclass(frozen=True)
class BytesPerToken:
    """UTF-8 bytes per token of one source under one tokenizer, from a sample of documents."""

    mean: float
    se: float
    documents: int  # in the sample
    population: int  # documents of the split
    tokens: int  # in the sample, end-of-text tokens included
    bytes: int

    def to_dict(self) -> dict:
        return {
            "mean": round(self.mean, 6),
            "se": round(self.se, 6),
            "sample_documents": self.documents,
            "documents": self.population,
            "sample_tokens": self.tokens,
            "sample_bytes": self.bytes,
        }


def bytes_per_token(doc_bytes, doc_tokens, population: int | None = None) -> BytesPerToken:
    """Ratio estimate sum(bytes) / sum(tokens) over documents, with its standard error (delta
    method: sqrt(sum (B_i - r T_i)^2 / (n (n-1))) / mean(T), times sqrt(1 - n/N))."""
    b = np.asarray(doc_bytes, dtype=np.float64)
    t = np.asarray(doc_tokens, dtype=np.float64)
    n = int(b.size)
    if n == 0 or t.sum() <= 0:
        raise UnitsError("no documents to measure bytes per token on")
    population = max(int(population or n), n)
    r = float(b.sum() / t.sum())
    se = 0.0
    if n > 1:
        resid = b - r * t
        se = math.sqrt(float((resid**2).sum()) / (n * (n - 1))) / float(t.mean())
        se *= math.sqrt(max(0.0, 1.0 - n / population))
    return BytesPerToken(r, se, n, population, int(t.sum()), int(b.sum()))


def convert(weights: Mapping[str, float], per_token_from: Mapping[str, float],
            per_token_to: Mapping[str, float] | None = None) -> dict[str, float]:  # fmt: skip
    """Shares in one unit -> shares in another: each weight times bytes per ``from`` unit over
    bytes per ``to`` unit, renormalised. ``per_token_to=None``: byte shares."""
    raw = {
        s: w * per_token_from[s] / (per_token_to[s] if per_token_to else 1.0)
        for s, w in weights.items()
    }
    total = sum(raw.values())
    if total <= 0:
        raise UnitsError("a phase without any weight")
    return {s: v / total for s, v in raw.items()}


def tokens_in(tokens: float, weights: Mapping[str, float], per_token_from: Mapping[str, float],
              per_token_to: Mapping[str, float]) -> float:  # fmt: skip
    """A phase's token count in the other unit: the same bytes, counted in the other tokens."""
    return tokens * sum(w * per_token_from[s] / per_token_to[s] for s, w in weights.items())


def parse_count(text: str | float | int, what: str = "--target-tokens") -> float:
    """``300B``, ``1.5T``, ``20M``, ``4e9`` or ``123456`` -> a positive finite number; else a
    UnitsError naming the flag and the accepted forms."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        value = float(text)
    else:
        m = re.fullmatch(
            r"\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([KMBGTkmbgt]?)\s*", str(text)
        )
        if not m:
            raise UnitsError(
                f"{what} {text!r}: a positive number, optionally with a unit K, M, B or T "
                "(e.g. 300B)"
            )
        value = float(m.group(1)) * _SUFFIX[m.group(2).upper()]
    if not math.isfinite(value) or value <= 0:
        raise UnitsError(f"{what} {text!r}: must be a positive, finite number (e.g. 300B)")
    return value


@dataclass(frozen=True)
class SourceBudget:
    source: str
    needed: dict[str, float]  # phase -> tokens
    available: float
    available_from: str  # "declared" | "built sample"

    @property
    def total(self) -> float:
        return sum(self.needed.values())

    @property
    def epochs(self) -> float:
        return self.total / self.available if self.available > 0 else math.inf


def budget(
    weights: Mapping[str, Mapping[str, float]],
    phase_tokens: Mapping[str, float],
    available: Mapping[str, float],
    available_from: Mapping[str, str] | None = None,
) -> list[SourceBudget]:
    """Per source (sorted): the tokens each phase needs of it and the epochs of its available
    tokens that implies. A source the phases use without an availability figure: UnitsError."""
    sources = sorted({s for w in weights.values() for s, v in w.items() if v > 0})
    missing = [s for s in sources if s not in available]
    if missing:
        raise UnitsError(
            f"no tokens available known for {', '.join(missing)}: declare them (tokens: or "
            "bytes:) in --available for every source the recipes use"
        )
    return [
        SourceBudget(
            s,
            {p: phase_tokens[p] * w.get(s, 0.0) for p, w in weights.items()},
            float(available[s]),
            (available_from or {}).get(s, "declared"),
        )
        for s in sources
    ]


def rebalance(
    weights: Mapping[str, Mapping[str, float]],
    phase_tokens: Mapping[str, float],
    available: Mapping[str, float],
    max_epochs: float,
) -> dict[str, dict[str, float]]:
    """Weights per phase whose sources each need at most ``max_epochs`` of their available
    tokens: a source over its cap is scaled down (the same factor in every phase), its excess
    goes to the phase's uncapped sources in proportion to their weights; repeated until none is
    over (each round caps at least one more source, so at most one round per source). A cap no
    rebalance can meet (all of a phase's sources capped with weight left to place): UnitsError."""
    w = {p: dict(ws) for p, ws in weights.items()}
    capped: set[str] = set()
    sources = {s for ws in w.values() for s in ws}
    for _ in range(len(sources) + 1):
        need = {s: sum(phase_tokens[p] * w[p].get(s, 0.0) for p in w) for s in sources}
        over = {
            s: max_epochs * available[s] / need[s]
            for s in sources
            if need[s] > max_epochs * available[s] * (1 + 1e-9)
        }
        if not over:
            return w
        capped |= set(over)
        for p, ws in w.items():
            if phase_tokens[p] <= 0:  # a phase that takes no tokens asks nothing of a source
                continue
            for s, factor in over.items():
                if s in ws:
                    ws[s] *= factor
            deficit = 1.0 - sum(ws.values())
            free = {s: v for s, v in ws.items() if s not in capped and v > 0}
            if deficit > 1e-12:
                if not free:
                    raise UnitsError(
                        f"no rebalance meets the cap: in {p}, every source "
                        f"({', '.join(sorted(ws))}) would need more than {max_epochs:g} epochs; "
                        "lower --target-tokens, declare more data (--available) or raise "
                        "--max-epochs"
                    )
                total_free = sum(free.values())
                for s, v in free.items():
                    ws[s] = v + deficit * v / total_free
    raise UnitsError("rebalance did not settle (a bug): please report it")


def over_cap(rows: list[SourceBudget], max_epochs: float) -> list[SourceBudget]:
    return [r for r in rows if r.epochs > max_epochs * (1 + 1e-9)]
