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

import io
import json

from codemix_search.config.space import SearchSpace
from codemix_search.core.ledger import line, run_totals
from codemix_search.core.mixture import PHASES
from codemix_search.core.ranking import default_reference, hypervolume, knee_index, weighted_pick
from codemix_search.export import signal
from codemix_search.storage.folder import Folder
from codemix_search.storage.layout import RunLayout


def _pct(v) -> str:
    return "" if v is None else f"{v * 100:+.1f}%"


def cost(record: dict, space: SearchSpace) -> dict:
    """The record's cost-ledger entry (codemix_search/core/ledger.py), the one source of tokens and
    device-seconds in the report."""
    from codemix_search.core.ledger import trial_cost

    return record.get("cost") or trial_cost(record, space, space.data.vocab_size)


def summarise(rows: list[dict], space: SearchSpace) -> dict:
    names, modes = space.metric_names, space.modes
    finished = [r for r in rows if r["status"] == "finished"]
    values = [[r["objectives"][n] for n in names] for r in finished]
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
    base = next((r for r in finished if (r.get("metrics") or {}).get("baseline") == 1), None)
    totals = run_totals([cost(r, space) for r in rows])
    return {
        "trials": len(rows),
        "by_status": {
            s: sum(r["status"] == s for r in rows)
            for s in ("finished", "pruned", "diverged", "error", "interrupted")
        },
        "objectives": dict(zip(names, modes, strict=True)),
        "hypervolume": hypervolume(values, modes, ref) if values else 0.0,
        "reference_point": dict(zip(names, ref, strict=True)) if ref else None,
        "knee": finished[knee]["trial_id"] if knee is not None else None,
        "weighted_pick": finished[pick]["trial_id"] if pick is not None else None,
        "baseline": base["trial_id"] if base else None,
        "tokens": totals["tokens"],
        "device_seconds": totals["device_seconds"],
        "cost": totals,
    }


def _mixture(record: dict) -> str:
    mix = record.get("mixture") or {}
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


def markdown(rows: list[dict], space: SearchSpace, summary: dict) -> str:
    names = space.metric_names
    # The paper's numbers (accuracy, exact match, pass@1) of the categories ranked by BPB:
    # display columns, too noisy at proxy scale to rank by.
    display = [o.category for o in space.objectives if o.category and o.metric != "acc"]
    out = io.StringIO()
    out.write(f"# codemix_search run report: {space.name}\n\n")
    st = summary["by_status"]
    out.write(
        f"{summary['trials']} trials: {st['finished']} finished, {st['pruned']} pruned (early "
        f"stopped), {st['diverged']} diverged, {st['error']} errors"
        + (
            f", {st['interrupted']} interrupted (the search was stopped; --resume)"
            if st["interrupted"]
            else ""
        )
        + f".\n\n{line(summary['cost'])}.\n\n"
    )
    out.write(
        f"- objectives: {', '.join(f'{n} ({m})' for n, m in summary['objectives'].items())}\n"
        f"- hypervolume of the front: {summary['hypervolume']:.4g} (reference "
        f"{summary['reference_point']})\n"
        f"- knee (closest to the ideal point): {summary['knee']}\n"
        f"- weighted pick: {summary['weighted_pick'] or '(no ranking.weights)'}\n"
        f"- baseline: {summary['baseline'] or '(none finished)'}\n\n"
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
    for r in rows:
        m = r.get("metrics") or {}
        c = cost(r, space)
        vs = r.get("vs_baseline") or {}
        rel = " ".join(
            f"{c} {_pct(v)}"
            for c, v in (vs.get("objectives") or vs.get("relative") or {}).items()
            if v is not None
        )
        wins = [w["win_rate"] for w in (vs.get("win_rate") or {}).values() if "win_rate" in w]
        cells = [
            str(r.get("rank") or "-"),
            "*" if r.get("pareto") else "",
            r["trial_id"] + (" (knee)" if r["trial_id"] == summary["knee"] else ""),
            r["status"],
            str((r.get("config") or {}).get("init", space.training.init)),
            *(f"{r['objectives'][n]:.4f}" if n in r["objectives"] else "-" for n in names),
            *(f"{m[f'category/{c}']:.3f}" if f"category/{c}" in m else "-" for c in display),
            rel or ("baseline" if m.get("baseline") == 1 else "-"),
            f"{sum(wins) / len(wins):.2f}" if wins else "-",
            f"{c['tokens']:,}",
            f"{c['device_seconds']:.0f}",
            _mixture(r),
        ]
        out.write("| " + " | ".join(cells) + " |\n")
    return out.getvalue()


def pareto_png(rows: list[dict], space: SearchSpace, knee: str | None) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = space.metric_names
    finished = [r for r in rows if r["status"] == "finished"]
    pairs = [(0, j) for j in range(1, len(names))] or [(0, 0)]
    fig, axes = plt.subplots(1, len(pairs), figsize=(4.2 * len(pairs), 3.8), squeeze=False)
    for ax, (i, j) in zip(axes[0], pairs, strict=True):
        for r in finished:
            x, y = r["objectives"][names[i]], r["objectives"][names[j]]
            front = r.get("pareto")
            ax.scatter(
                x,
                y,
                c="tab:red" if front else "tab:gray",
                s=40 if front else 18,
                marker="*" if r["trial_id"] == knee else "o",
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


def pareto_html(rows: list[dict], space: SearchSpace) -> str:
    import plotly.graph_objects as go

    names = space.metric_names
    finished = [r for r in rows if r["status"] == "finished"]
    hover = [f"{r['trial_id']}<br>{_mixture(r).replace('; ', '<br>')}" for r in finished]
    colors = ["crimson" if r.get("pareto") else "gray" for r in finished]
    if len(names) == 2:
        fig = go.Figure(
            go.Scatter(
                x=[r["objectives"][names[0]] for r in finished],
                y=[r["objectives"][names[1]] for r in finished],
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
                    {"label": n, "values": [r["objectives"][n] for r in finished]} for n in names
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


def _trial_row(r: dict, space: SearchSpace) -> dict:
    vs = r.get("vs_baseline") or {}
    win = {k: v.get("win_rate") for k, v in (vs.get("win_rate") or {}).items()}
    return {
        "trial_id": r["trial_id"],
        "status": r["status"],
        "rank": r.get("rank"),
        "pareto": bool(r.get("pareto")),
        "objectives": {n: (r.get("objectives") or {}).get(n) for n in space.metric_names},
        "vs_baseline": vs.get("objectives") or vs.get("relative") or {},
        "win_rate": win,
        "mixture_id": r.get("mixture_id"),
        "mixture": r.get("mixture"),
        # Relative to the run folder: a copied run keeps its links.
        "recipe": f"recipes/{r['trial_id']}.yaml" if r.get("pareto") else None,
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


def write_report(rows: list[dict], space: SearchSpace, run: Folder) -> dict:
    summary = summarise(rows, space)
    summary["signal"] = signal.signal_table(rows, space, run)
    front = [r for r in rows if r.get("pareto")]
    summary["ties"] = signal.tied_members(front, space, summary["signal"])
    folder = RunLayout(run).report
    body = markdown(rows, space, summary) + "\n" + signal.markdown(summary["signal"])
    tied = {t: w for t, w in summary["ties"].items() if w}
    body += (
        "\nFront members statistically tied (no objective differs by more than 1.96 standard "
        "errors of a difference, seed noise included): "
        + ("; ".join(f"{t} ~ {', '.join(w)}" for t, w in sorted(tied.items())) or "none")
        + "\n"
    )
    summary["datasets"] = _datasets(run)
    if len(summary["datasets"]) > 1:  # a resume continued on another dataset (--allow-new-data)
        body += "\nThis run's trials used more than one dataset (resumed with --allow-new-data):\n"
        body += "".join(
            f"- {d['key']}: {', '.join(d['trials']) or 'no trial'}\n" for d in summary["datasets"]
        )
    folder.write_text("report.md", body)
    summary["schema_version"] = REPORT_SCHEMA_VERSION
    summary["trials_table"] = [_trial_row(r, space) for r in rows]
    folder.write_text("report.json", json.dumps(summary, indent=1, sort_keys=True))
    if summary["by_status"]["finished"]:
        folder.write_bytes("pareto.png", pareto_png(rows, space, summary["knee"]))
        folder.write_text("pareto.html", pareto_html(rows, space))
    folder.mark_success({"trials": summary["trials"]})
    return summary
