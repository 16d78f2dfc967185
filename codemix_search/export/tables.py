"""The run's trials ranked: the printed table and the leaderboard CSV (pure)."""

from __future__ import annotations

import csv
import io

from codemix_search.config.space import SearchSpace
from codemix_search.core.mixture import PHASES
from codemix_search.core.ranking import pareto_front, rank_order


def front_of(records: list[dict], space: SearchSpace) -> list[dict]:
    """Non-dominated records among the finished ones (pruned/diverged/error never enter; a
    trial that reused a twin's result is that twin, so only the trained one gets a recipe)."""
    finished = [
        r
        for r in records
        if r["status"] == "finished" and not (r.get("metrics") or {}).get("reused_from")
    ]
    values = [[r["objectives"][n] for n in space.metric_names] for r in finished]
    return [finished[i] for i in pareto_front(values, space.modes)]


def ranked(records: list[dict], space: SearchSpace) -> list[dict]:
    finished = [r for r in records if r["status"] == "finished"]
    others = [r for r in records if r["status"] != "finished"]
    values = [[r["objectives"][n] for n in space.metric_names] for r in finished]
    front_ids = {r["trial_id"] for r in front_of(records, space)}
    out = []
    for rank, i in enumerate(rank_order(values, space.modes), start=1):
        out.append({**finished[i], "rank": rank, "pareto": finished[i]["trial_id"] in front_ids})
    out.extend({**r, "rank": None, "pareto": False} for r in others)
    return out


def _pct(v) -> str:
    return "" if v is None else f"{v * 100:+.1f}%"


def _relative(record: dict) -> dict:
    """The objectives' change against the baseline (older records: every category's)."""
    vs = record.get("vs_baseline") or {}
    return vs.get("objectives") or vs.get("relative") or {}


def _win(record: dict) -> str:
    wr = (record.get("vs_baseline") or {}).get("win_rate") or {}
    vals = [v["win_rate"] for v in wr.values() if "win_rate" in v]
    if vals:
        return f"{sum(vals) / len(vals):.2f}"
    return "err" if wr else ""


def leaderboard_csv(rows: list[dict], space: SearchSpace) -> str:
    sources = sorted({s for r in rows if r.get("mixture") for s in r["mixture"]["pretrain"]})
    cats = sorted({c for r in rows for c in ((r.get("vs_baseline") or {}).get("relative") or {})})
    header = ["rank", "pareto", "trial_id", "status", *space.metric_names, "val_loss", "tokens"]
    header += [f"vs_baseline/{c}" for c in cats] + ["win_rate_vs_baseline"]
    header += [f"{p}/{s}" for p in PHASES for s in sources]
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(header)
    for r in rows:
        m = r.get("metrics", {})
        row = [
            r["rank"] if r["rank"] is not None else "",
            int(r["pareto"]),
            r["trial_id"],
            r["status"],
        ]
        row += [_fmt(r["objectives"].get(n)) for n in space.metric_names]
        row += [_fmt(m.get("val_loss")), m.get("tokens", "")]
        rel = (r.get("vs_baseline") or {}).get("relative") or {}
        row += [_pct(rel.get(c)) for c in cats] + [_win(r)]
        row += [_fmt((r.get("mixture") or {}).get(p, {}).get(s)) for p in PHASES for s in sources]
        w.writerow(row)
    return buf.getvalue()


def code_shares(record: dict, space: SearchSpace) -> tuple[float, float, float, float]:
    """(code share, synthetic and commit shares of the code part, cooldown code share) read
    from the mixture itself, so both parametrisations print the paper's four numbers."""
    groups = {s.name: s.group for s in space.catalog}
    mix = record.get("mixture") or {}

    def part(phase: str, which: set[str]) -> float:
        return sum(w for s, w in (mix.get(phase) or {}).items() if groups.get(s) in which)

    code_groups = {"web_code", "synthetic_code", "commits"}
    code = part("pretrain", code_groups)
    syn = part("pretrain", {"synthetic_code"}) / code if code else 0.0
    com = part("pretrain", {"commits"}) / code if code else 0.0
    return code, syn, com, part("cooldown", code_groups)


def _fmt(v) -> str:
    return "" if v is None else f"{v:.4f}" if isinstance(v, float) else str(v)


def trials_table(rows: list[dict], space: SearchSpace) -> str:
    """The ranked table printed at the end of a run."""
    cols = [
        "rank",
        "front",
        "trial",
        "status",
        "code",
        "syn",
        "commit",
        "cd_code",
        *space.metric_names,
        "val_loss",
        "vs_baseline(+=better)",
        "win",
    ]
    lines = []
    for r in rows:
        shares = code_shares(r, space)
        lines.append(
            [
                str(r["rank"] or "-"),
                "*" if r["pareto"] else "",
                r["trial_id"],
                r["status"],
                *(f"{v:.2f}" for v in shares),
                *(_fmt(r["objectives"].get(n)) or "-" for n in space.metric_names),
                _fmt(r.get("metrics", {}).get("val_loss")) or "-",
                " ".join(f"{c} {_pct(v)}" for c, v in _relative(r).items() if v is not None)
                or ("baseline" if r.get("metrics", {}).get("baseline") == 1 else "-"),
                _win(r) or "-",
            ]
        )
    widths = [
        max(len(h), *(len(x[i]) for x in lines)) if lines else len(h) for i, h in enumerate(cols)
    ]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join(
        [
            fmt.format(*cols),
            fmt.format(*("-" * w for w in widths)),
            *(fmt.format(*x) for x in lines),
        ]
    )
