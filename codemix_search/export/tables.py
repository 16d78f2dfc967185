"""The run's trials ranked: the printed table and the leaderboard CSV (pure)."""

from __future__ import annotations

import csv
import io

from codemix_search.config.space import SearchSpace
from codemix_search.core.mixture import PHASES
from codemix_search.core.ranking import pareto_front, rank_order
from codemix_search.core.records import RankedTrial, TrialRecord


def front_of(records: list[TrialRecord], space: SearchSpace) -> list[TrialRecord]:
    """Non-dominated records among the finished ones (pruned/diverged/error never enter; a
    trial that reused a twin's result is that twin, so only the trained one gets a recipe)."""
    finished = [r for r in records if r.finished and not r.reused_from]
    values = [[r.objectives[n] for n in space.metric_names] for r in finished]
    return [finished[i] for i in pareto_front(values, space.modes)]


def ranked(records: list[TrialRecord], space: SearchSpace) -> list[RankedTrial]:
    """The finished records by rank (core/ranking.rank_order), then the others unranked."""
    finished = [r for r in records if r.finished]
    values = [[r.objectives[n] for n in space.metric_names] for r in finished]
    front_ids = {r.trial_id for r in front_of(records, space)}
    out = [
        RankedTrial(finished[i], rank, finished[i].trial_id in front_ids)
        for rank, i in enumerate(rank_order(values, space.modes), start=1)
    ]
    return out + [RankedTrial(r, None, False) for r in records if not r.finished]


def _pct(v) -> str:
    return "" if v is None else f"{v * 100:+.1f}%"


def relative(record: TrialRecord) -> dict:
    """The objectives' change against the baseline (else every category's)."""
    vs = record.vs_baseline
    return (vs.objectives or vs.relative) if vs else {}


def _win(record: TrialRecord) -> str:
    vs = record.vs_baseline
    if vs is None or not vs.win_rate:
        return ""
    return "err" if vs.mean_win_rate is None else f"{vs.mean_win_rate:.2f}"


def leaderboard_csv(rows: list[RankedTrial], space: SearchSpace) -> str:
    records = [row.record for row in rows]
    sources = sorted({s for r in records if r.mixture for s in r.mixture["pretrain"]})
    cats = sorted({c for r in records if r.vs_baseline for c in r.vs_baseline.relative})
    header = ["rank", "pareto", "trial_id", "status", *space.metric_names, "val_loss", "tokens"]
    header += [f"vs_baseline/{c}" for c in cats] + ["win_rate_vs_baseline"]
    header += [f"{p}/{s}" for p in PHASES for s in sources]
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(header)
    for ranked_row in rows:
        r, m = ranked_row.record, ranked_row.record.metrics
        row = [
            ranked_row.rank if ranked_row.rank is not None else "",
            int(ranked_row.on_front),
            r.trial_id,
            r.status.value,
        ]
        row += [_fmt(r.objectives.get(n)) for n in space.metric_names]
        row += [_fmt(m.get("val_loss")), m.get("tokens", "")]
        rel = r.vs_baseline.relative if r.vs_baseline else {}
        row += [_pct(rel.get(c)) for c in cats] + [_win(r)]
        row += [_fmt((r.mixture or {}).get(p, {}).get(s)) for p in PHASES for s in sources]
        w.writerow(row)
    return buf.getvalue()


def code_shares(record: TrialRecord, space: SearchSpace) -> tuple[float, float, float, float]:
    """(code share, synthetic and commit shares of the code part, cooldown code share) read
    from the mixture itself, so both parametrisations print the paper's four numbers."""
    groups = {s.name: s.group for s in space.catalog}
    mix = record.mixture or {}

    def part(phase: str, which: set[str]) -> float:
        return sum(w for s, w in (mix.get(phase) or {}).items() if groups.get(s) in which)

    code_groups = {"web_code", "synthetic_code", "commits"}
    code = part("pretrain", code_groups)
    syn = part("pretrain", {"synthetic_code"}) / code if code else 0.0
    com = part("pretrain", {"commits"}) / code if code else 0.0
    return code, syn, com, part("cooldown", code_groups)


def _fmt(v) -> str:
    return "" if v is None else f"{v:.4f}" if isinstance(v, float) else str(v)


def trials_table(rows: list[RankedTrial], space: SearchSpace) -> str:
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
    for row in rows:
        r = row.record
        lines.append(
            [
                str(row.rank or "-"),
                "*" if row.on_front else "",
                r.trial_id,
                r.status.value,
                *(f"{v:.2f}" for v in code_shares(r, space)),
                *(_fmt(r.objectives.get(n)) or "-" for n in space.metric_names),
                _fmt(r.metrics.get("val_loss")) or "-",
                "baseline"
                if r.is_baseline
                else " ".join(f"{c} {_pct(v)}" for c, v in relative(r).items() if v is not None)
                or "-",
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
