"""A run's recipes in a target run's units: its tokenizer, its token budget, the data it has.

``plan_target`` turns each recipe (weights = token shares under the proxy's tokenizer) into
per-phase weights and tokens in the target's units (export/units.py for the maths,
export/measure_units.py for the measurement), checks every source's epochs at the target budget
against ``max_epochs`` (refused, or rebalanced), and keeps what it did in two blocks the trainer
configs carry: ``units`` and ``budget``. Nothing is written here: a refusal leaves no file.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from codemix_search.data.dataset import DataManifest
from codemix_search.errors import ConfigError
from codemix_search.export.formats import PHASES, phase_tokens, recipe_weights
from codemix_search.export.measure_units import (
    SAMPLE_DOCUMENTS,
    TargetTokenizer,
    encode_sources,
    measure,
    sample_sources,
)
from codemix_search.export.units import (
    DEFAULT_MAX_EPOCHS,
    UnitsError,
    budget,
    convert,
    over_cap,
    parse_count,
    rebalance,
    tokens_in,
)


@dataclass(frozen=True)
class TargetRequest:
    """What the user asked of ``export``: all optional; empty = the proxy's units as they are."""

    tokenizer: TargetTokenizer | None = None
    target_tokens: float | None = None
    cooldown_share: float | None = None
    available: Mapping[str, Mapping[str, float]] | None = None  # source -> {tokens|bytes: N}
    available_file: str = "--available"
    max_epochs: float | None = None
    rebalance: bool = False

    def __post_init__(self):
        if self.cooldown_share is not None and not 0 < self.cooldown_share < 1:
            raise ConfigError("--cooldown-share", "", f"{self.cooldown_share}: a share in (0, 1)")
        if self.max_epochs is not None:
            if not (math.isfinite(self.max_epochs) and self.max_epochs > 0):
                raise ConfigError("--max-epochs", "", f"{self.max_epochs}: a positive number")
            if self.target_tokens is None:
                raise ConfigError(
                    "--max-epochs", "", "needs --target-tokens (epochs at what budget?)"
                )
        if (self.rebalance or self.available) and self.target_tokens is None:
            flag = "--rebalance" if self.rebalance else "--available"
            raise ConfigError(
                flag, "", "needs --target-tokens (the budget to check the data against)"
            )
        if self.cooldown_share is not None and self.target_tokens is None:
            raise ConfigError(
                "--cooldown-share", "", "needs --target-tokens (the budget it splits)"
            )

    @property
    def epochs_cap(self) -> float:
        return self.max_epochs if self.max_epochs is not None else DEFAULT_MAX_EPOCHS

    @property
    def unit(self) -> str:
        return "target" if self.tokenizer else "proxy"


@dataclass
class TargetPlan:
    """Per recipe: a view whose weights and tokens are in the target's units, and the blocks."""

    views: list[dict]
    blocks: dict[str, dict]
    per_token: dict
    encoded: dict[str, list] | None = field(default=None, repr=False)
    """Each source's documents in the target's ids (with a tokenizer): what the exports write."""


def parse_available(raw, file: str) -> dict[str, dict[str, float]]:
    """``{source: N | "2.5B" | {tokens: N} | {bytes: N}}`` (N in the export's token units) ->
    ``{source: {"tokens"|"bytes": N}}``; one line naming the entry otherwise."""
    if not isinstance(raw, dict) or not raw:
        raise ConfigError(file, "", "a mapping of source -> tokens (e.g. code: 250B) or {bytes: N}")
    out = {}
    for source, value in raw.items():
        where = f"{source}"
        kind, v = "tokens", value
        if isinstance(value, dict):
            if len(value) != 1 or next(iter(value)) not in ("tokens", "bytes"):
                raise ConfigError(file, where, "one of tokens: N or bytes: N")
            kind, v = next(iter(value.items()))
        try:
            out[str(source)] = {kind: parse_count(v, f"{kind}")}
        except UnitsError as e:
            raise ConfigError(file, f"{where}.{kind}" if isinstance(value, dict) else where,
                              str(e)) from None  # fmt: skip
    return out


def plan_target(
    recipes: list[dict],
    data_uri: str,
    manifest: DataManifest,
    req: TargetRequest,
    full: bool = False,
) -> TargetPlan:
    """Each recipe in the target's units (``full``: decode every document, as re-tokenizing
    the exported data needs; else a sample, export/measure_units.py)."""
    sources = sorted({s for r in recipes for p in PHASES for s in recipe_weights(r, p)})
    texts = sample_sources(data_uri, manifest, sources, None if full else SAMPLE_DOCUMENTS)
    encoded = encode_sources(texts, req.tokenizer) if req.tokenizer else None
    per_token = measure(texts, encoded)
    bpt_proxy = {s: per_token[s]["proxy"].mean for s in sources}
    bpt_active = {s: per_token[s][req.unit].mean for s in sources}
    available, available_from = _available(req, manifest, sources, bpt_proxy, bpt_active)
    views, blocks = [], {}
    for r in recipes:
        proxy_w = {p: recipe_weights(r, p) for p in PHASES}
        active_w = {p: convert(proxy_w[p], bpt_proxy, bpt_active) for p in PHASES}
        tokens = _phase_tokens(r, req, proxy_w, bpt_proxy, bpt_active)
        units = {
            "weights_are": _unit_words(req),
            "proxy_token_weights": _rounded(proxy_w),
            "byte_weights": _rounded({p: convert(proxy_w[p], bpt_proxy) for p in PHASES}),
            "target_token_weights": _rounded(active_w) if req.tokenizer else None,
            "bytes_per_token": {
                s: {k: v.to_dict() for k, v in per_token[s].items()} for s in sorted(per_token)
            },
            "tokenizer": req.tokenizer.name if req.tokenizer else None,
        }
        final_w, budget_block = active_w, None
        if req.target_tokens is not None:
            final_w, budget_block = _check_budget(
                r, req, active_w, tokens, available, available_from
            )
        views.append(_view(r, final_w, tokens))
        blocks[r["trial_id"]] = {"units": units, "budget": budget_block}
    return TargetPlan(views, blocks, per_token, encoded)


def _unit_words(req: TargetRequest) -> str:
    if req.tokenizer:
        return f"shares of tokens under the target tokenizer {req.tokenizer.name!r} (tokenizer/)"
    return "shares of tokens under the proxy's tokenizer (tokenizer/)"


def _rounded(w: Mapping[str, Mapping[str, float]]) -> dict:
    return {p: {s: round(v, 6) for s, v in ws.items()} for p, ws in w.items()}


def _phase_tokens(r, req, proxy_w, bpt_proxy, bpt_active) -> dict[str, float]:
    if req.target_tokens is not None:
        cool = req.cooldown_share
        if cool is None:
            cool = float(r["phases"]["cooldown"]["token_share"])
        return {"pretrain": req.target_tokens * (1 - cool), "cooldown": req.target_tokens * cool}
    # The proxy's own budget, counted in the target's tokens: the same bytes of each source.
    return {p: tokens_in(phase_tokens(r, p), proxy_w[p], bpt_proxy, bpt_active) for p in PHASES}


def _available(req, manifest, sources, bpt_proxy, bpt_active):
    """Tokens available per source in the export's units: declared (``--available``: every
    source the recipes use), else the built train split (exact under the proxy; under a target,
    the split's bytes over the target's bytes per token)."""
    if req.available:
        missing = [s for s in sources if s not in req.available]
        if missing:
            raise ConfigError(
                req.available_file,
                missing[0],
                f"no figure for {', '.join(missing)}: declare tokens: or bytes: for every "
                "source the recipes use",
            )
        out = {}
        for s in sources:
            (kind, n), = req.available[s].items()  # fmt: skip
            out[s] = n if kind == "tokens" else n / bpt_active[s]
        return out, {s: "declared" for s in sources}
    out = {s: manifest.split(s, "train")["tokens"] * bpt_proxy[s] / bpt_active[s] for s in sources}
    return out, {s: "built sample" for s in sources}


def _check_budget(r, req, weights, tokens, available, available_from):
    rows = budget(weights, tokens, available, available_from)
    cap = req.epochs_cap
    over = over_cap(rows, cap)
    moved = None
    if over:
        worst = max(over, key=lambda row: row.epochs)
        if not req.rebalance:
            raise ConfigError(
                "--max-epochs",
                "",
                f"recipe {r['trial_id']} needs {worst.epochs:.3g} epochs of {worst.source!r} "
                f"({worst.total:.3g} of its {worst.available:.3g} {available_from[worst.source]} "
                f"tokens) at {req.target_tokens:.3g} tokens, over the cap of {cap:g}: declare "
                "its real size (--available), lower --target-tokens, raise --max-epochs or "
                "pass --rebalance",
            )
        try:
            new = rebalance(weights, tokens, available, cap)
        except UnitsError as e:
            raise ConfigError("--rebalance", "", f"recipe {r['trial_id']}: {e}") from None
        moved = {
            p: {
                s: round(new[p][s] - weights[p][s], 6)
                for s in sorted(weights[p])
                if abs(new[p][s] - weights[p][s]) > 5e-7
            }  # fmt: skip
            for p in PHASES
        }
        weights, rows = new, budget(new, tokens, available, available_from)
    block = {
        "target_tokens": req.target_tokens,
        "max_epochs": cap,
        "units": req.unit + " tokens",
        "phase_tokens": {p: round(v) for p, v in tokens.items()},
        "sources": {
            row.source: {
                "needed": {p: round(v) for p, v in row.needed.items()},
                "available": round(row.available),
                "available_from": row.available_from,
                "epochs": float(f"{row.epochs:.4g}"),  # 4 significant digits, small ones too
            }
            for row in rows
        },
        "rebalanced": moved,
    }
    return weights, block


def _view(r: dict, weights: Mapping[str, Mapping[str, float]], tokens: Mapping[str, float]) -> dict:
    """The recipe with weights and tokens in the target's units (what the configs are built
    from); token_share keeps the phases' split of the rounded total."""
    view = copy.deepcopy(r)
    total = max(1, round(sum(tokens.values())))
    view["training"]["tokens"] = total
    for p in PHASES:
        view["phases"][p]["weights"] = dict(weights[p])
        view["phases"][p]["token_share"] = tokens[p] / total
    return view
