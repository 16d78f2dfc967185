"""The run report: what a researcher reads and acts on (no Ray).

Written to ``<run>/report/`` (atomically, ``_SUCCESS`` last):
- ``report.md``: counts by status, hypervolume of the front, the knee (compromise) trial and an
  optional weighted pick, then every trial ranked: front membership, init, objectives, change
  against the baseline (the paper's +8.2% format), generative win-rate, tokens, device-seconds,
  and the mixture (weight per source per phase);
- ``report.json``: the same numbers for programs;
- ``pareto.png`` (matplotlib) and ``pareto.html`` (plotly, self-contained, opens offline): the
  objectives of every finished trial, the front highlighted, hover shows trial and mixture.
"""

from __future__ import annotations

import dataclasses
import io
import json
from dataclasses import dataclass, field

from codemix_search.config.space import SearchSpace
from codemix_search.core.ledger import line, run_totals, trial_cost
from codemix_search.core.mixture import PHASES
from codemix_search.core.ranking import default_reference, hypervolume, knee_index, weighted_pick
from codemix_search.core.records import Cost, RankedTrial, TrialRecord, TrialStatus
from codemix_search.export import signal
from codemix_search.export.tables import relative
from codemix_search.storage.folder import Folder
from codemix_search.storage.layout import RunLayout


def _pct(v) -> str:
    return "" if v is None else f"{v * 100:+.1f}%"


def cost(record: TrialRecord, space: SearchSpace) -> Cost:
    """The record's cost-ledger entry (codemix_search/core/ledger.py), the one source of tokens and
    device-seconds in the report."""
    return record.cost or trial_cost(record, space, space.data.vocab_size)


@dataclass
class ReportSummary:
    """What report.json holds above its per-trial rows (and what report.md opens with)."""

    trials: int
    by_status: dict[str, int]
    objectives: dict[str, str]
    """Objective -> mode."""
    hypervolume: float
    reference_point: dict[str, float] | None
    knee: str | None
    """The trial closest to the ideal point (core/ranking.knee_index)."""
    weighted_pick: str | None
    """The best trial under ``ranking.weights``, when given."""
    baseline: str | None
    tokens: int
    device_seconds: float
    cost: dict
    """The run's ledger totals (core/ledger.run_totals)."""
    signal: dict = field(default_factory=dict)
    """Objective -> its noise, SNR and verdict (export/signal.signal_table)."""
    ties: dict[str, list[str]] = field(default_factory=dict)
    """Front member -> the front members it is statistically tied with."""
    datasets: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def summarise(records: list[TrialRecord], space: SearchSpace) -> ReportSummary:
    names, modes = space.metric_names, space.modes
    finished = [r for r in records if r.finished]
    values = [[r.objectives[n] for n in names] for r in finished]
    ref = None
    if values:
        ref = default_reference(values, modes)
        for i, n in enumerate(names):
            if n in space.ranking.reference_point:
                ref[i] = float(space.ranking.reference_point[n])
    knee = knee_index(values, modes) if values else None
    pick = None
    if values and space.ranking.weights:
        weights = [float(space.ranking.weights.get(n, 0.0)) for n in names]
        pick = weighted_pick(values, modes, weights)
    base = next((r for r in finished if r.is_baseline), None)
    totals = run_totals([cost(r, space) for r in records])
    return ReportSummary(
        trials=len(records),
        by_status={s.value: sum(r.status is s for r in records) for s in TrialStatus},
        objectives=dict(zip(names, modes, strict=True)),
        hypervolume=hypervolume(values, modes, ref) if values else 0.0,
        reference_point=dict(zip(names, ref, strict=True)) if ref else None,
        knee=finished[knee].trial_id if knee is not None else None,
        weighted_pick=finished[pick].trial_id if pick is not None else None,
        baseline=base.trial_id if base else None,
        tokens=totals["tokens"],
        device_seconds=totals["device_seconds"],
        cost=totals,
    )


def _mixture(record: TrialRecord) -> str:
    mix = record.mixture or {}
    parts = []
    for phase in PHASES:
        weights = mix.get(phase) or {}
        parts.append(
            f"{phase}: "
            + " ".join(
                f"{s} {w:.2f}" for s, w in sorted(weights.items(), key=lambda x: -x[1]) if w > 0
            )
        )
        # (zero-weight sources left out)
    return "; ".join(parts)


def markdown(rows: list[RankedTrial], space: SearchSpace, summary: ReportSummary) -> str:
    names = space.metric_names
    # The paper's numbers (accuracy, exact match, pass@1) of the categories ranked by BPB:
    # display columns, too noisy at proxy scale to rank by.
    display = [o.category for o in space.objectives if o.category and o.metric != "acc"]
    out = io.StringIO()
    out.write(f"# codemix_search run report: {space.name}\n\n")
    st = summary.by_status
    out.write(
        f"{summary.trials} trials: {st[TrialStatus.FINISHED]} finished, {st[TrialStatus.PRUNED]} pruned (early "
        f"stopped), {st[TrialStatus.DIVERGED]} diverged, {st[TrialStatus.ERROR]} errors"
        + (
            f", {st[TrialStatus.INTERRUPTED]} interrupted (the search was stopped; --resume)"
            if st[TrialStatus.INTERRUPTED]
            else ""
        )
        + f".\n\n{line(summary.cost)}.\n\n"
    )
    out.write(
        f"- objectives: {', '.join(f'{n} ({m})' for n, m in summary.objectives.items())}\n"
        f"- hypervolume of the front: {summary.hypervolume:.4g} (reference "
        f"{summary.reference_point})\n"
        f"- knee (closest to the ideal point): {summary.knee}\n"
        f"- weighted pick: {summary.weighted_pick or '(no ranking.weights)'}\n"
        f"- baseline: {summary.baseline or '(none finished)'}\n\n"
    )
    header = [
        "rank",
        "front",
        "trial",
        "status",
        "init",
        *names,
        *(f"{c} acc" for c in display),
        "vs baseline (+ = better)",
        "win",
        "tokens",
        "device-s",
        "mixture",
    ]
    out.write("| " + " | ".join(header) + " |\n")
    out.write("|" + "---|" * len(header) + "\n")
    for row in rows:
        r = row.record
        m = r.metrics
        c = cost(r, space)
        rel = " ".join(f"{k} {_pct(v)}" for k, v in relative(r).items() if v is not None)
        win = r.vs_baseline.mean_win_rate if r.vs_baseline else None
        cells = [
            str(row.rank or "-"),
            "*" if row.on_front else "",
            r.trial_id + (" (knee)" if r.trial_id == summary.knee else ""),
            r.status.value,
            r.init(space.training.init),
            *(f"{r.objectives[n]:.4f}" if n in r.objectives else "-" for n in names),
            *(f"{m[f'category/{k}']:.3f}" if f"category/{k}" in m else "-" for k in display),
            "baseline" if r.is_baseline else (rel or "-"),
            f"{win:.2f}" if win is not None else "-",
            f"{c.tokens:,}",
            f"{c.device_seconds:.0f}",
            _mixture(r),
        ]
        out.write("| " + " | ".join(cells) + " |\n")
    return out.getvalue()


def pareto_png(rows: list[RankedTrial], space: SearchSpace, knee: str | None) -> bytes:
    # imported here, not at the top: matplotlib: 0.4 s, only for the report's plot
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = space.metric_names
    finished = [r for r in rows if r.record.finished]
    pairs = [(0, j) for j in range(1, len(names))] or [(0, 0)]
    fig, axes = plt.subplots(1, len(pairs), figsize=(4.2 * len(pairs), 3.8), squeeze=False)
    for ax, (i, j) in zip(axes[0], pairs, strict=True):
        for r in finished:
            x, y = r.record.objectives[names[i]], r.record.objectives[names[j]]
            front = r.on_front
            ax.scatter(
                x,
                y,
                c="tab:red" if front else "tab:gray",
                s=40 if front else 18,
                marker="*" if r.record.trial_id == knee else "o",
                zorder=3 if front else 2,
            )
        ax.set_xlabel(f"{names[i]} ({space.modes[i]})")
        ax.set_ylabel(f"{names[j]} ({space.modes[j]})")
        ax.grid(alpha=0.3)
    fig.suptitle(f"{space.name}: finished trials (red: Pareto front, star: knee)")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()


def pareto_html(rows: list[RankedTrial], space: SearchSpace) -> str:
    # imported here, not at the top: plotly: only for the report's page
    import plotly.graph_objects as go

    names = space.metric_names
    finished = [r for r in rows if r.record.finished]
    hover = [f"{r.record.trial_id}<br>{_mixture(r.record).replace('; ', '<br>')}" for r in finished]
    colors = ["crimson" if r.on_front else "gray" for r in finished]
    if len(names) == 2:
        fig = go.Figure(
            go.Scatter(
                x=[r.record.objectives[names[0]] for r in finished],
                y=[r.record.objectives[names[1]] for r in finished],
                mode="markers",
                marker={"color": colors, "size": 10},
                text=hover,
                hoverinfo="text",
            )
        )
        fig.update_layout(xaxis_title=names[0], yaxis_title=names[1])
    else:
        fig = go.Figure(
            go.Splom(
                dimensions=[
                    {"label": n, "values": [r.record.objectives[n] for r in finished]}
                    for n in names
                ],
                marker={"color": colors, "size": 8},
                text=hover,
                hoverinfo="text",
            )
        )
    fig.update_layout(title=f"{space.name}: Pareto front (red) of finished trials")
    return fig.to_html(include_plotlyjs=True, full_html=True)


# report.json's shape: 1 = the summary alone (before 2026-11); 2 = + schema_version and
# trials_table (one row per trial: rank, front membership, objectives, relative change against
# the baseline, win-rate, mixture, recipe path).
REPORT_SCHEMA_VERSION = 2


def _trial_row(row: RankedTrial, space: SearchSpace) -> dict:
    r = row.record
    win = {k: v.get("win_rate") for k, v in r.vs_baseline.win_rate.items()} if r.vs_baseline else {}
    return {
        "trial_id": r.trial_id,
        "status": r.status.value,
        "rank": row.rank,
        "pareto": row.on_front,
        "objectives": {n: r.objectives.get(n) for n in space.metric_names},
        "vs_baseline": relative(r),
        "win_rate": win,
        "mixture_id": r.mixture_id,
        "mixture": r.mixture,
        # Relative to the run folder: a copied run keeps its links.
        "recipe": f"recipes/{r.trial_id}.yaml" if row.on_front else None,
    }


def _datasets(run: Folder) -> list[dict]:
    """Which dataset (key) each trial trained on: run.json's history, then the current one for
    the rest; one entry for a run that never changed data."""
    try:
        info = run.read_json(RunLayout.RUN)
    except (FileNotFoundError, ValueError):
        return []
    history = info.get("data_history") or []
    earlier = {t for h in history for t in h["trials"]}
    rest = [t for t in run.child("trials").listdir() if t not in earlier]
    return [*history, {"key": (info.get("data") or {}).get("key"), "trials": rest}]


def write_report(rows: list[RankedTrial], space: SearchSpace, run: Folder) -> ReportSummary:
    records = [row.record for row in rows]
    summary = summarise(records, space)
    summary.signal = signal.signal_table(records, space, run)
    summary.ties = signal.tied_members(
        [r.record for r in rows if r.on_front], space, summary.signal
    )
    folder = RunLayout(run).report
    body = markdown(rows, space, summary) + "\n" + signal.markdown(summary.signal)
    tied = {t: w for t, w in summary.ties.items() if w}
    body += (
        "\nFront members statistically tied (no objective differs by more than 1.96 standard "
        "errors of a difference, seed noise included): "
        + ("; ".join(f"{t} ~ {', '.join(w)}" for t, w in sorted(tied.items())) or "none")
        + "\n"
    )
    summary.datasets = _datasets(run)
    if len(summary.datasets) > 1:  # a resume continued on another dataset (--allow-new-data)
        body += "\nThis run's trials used more than one dataset (resumed with --allow-new-data):\n"
        body += "".join(
            f"- {d['key']}: {', '.join(d['trials']) or 'no trial'}\n" for d in summary.datasets
        )
    folder.write_text("report.md", body)
    report = summary.to_dict() | {
        "schema_version": REPORT_SCHEMA_VERSION,
        "trials_table": [_trial_row(r, space) for r in rows],
    }
    folder.write_text("report.json", json.dumps(report, indent=1, sort_keys=True))
    if summary.by_status[TrialStatus.FINISHED.value]:
        folder.write_bytes("pareto.png", pareto_png(rows, space, summary.knee))
        folder.write_text("pareto.html", pareto_html(rows, space))
    folder.mark_success({"trials": summary.trials})
    return summary
