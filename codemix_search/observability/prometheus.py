"""Every Prometheus metric codemix_search exports, in one place (ray.util.metrics).

Ray exports an application metric ``name`` as ``ray_<name>`` on each node's metrics port, and
Prometheus (scraping Ray's file-SD config) collects it; the Grafana dashboards in dashboards/
query exactly these names (tests/integration/test_dashboards.py checks every query against this module).

| metric (Prometheus name)              | type    | tags            | from             |
|---------------------------------------|---------|-----------------|------------------|
| ray_codemix_tokens_per_second         | gauge   | trial           | training workers |
| ray_codemix_tokens_total              | gauge   | trial           | training workers |
| ray_codemix_train_loss                | gauge   | trial           | training workers |
| ray_codemix_val_loss                  | gauge   | trial, source   | training workers |
| ray_codemix_phase                     | gauge   | trial           | 0 pretrain, 1 cooldown |
| ray_codemix_trials                    | gauge   | status          | search driver    |
| ray_codemix_best_hypervolume          | gauge   |                 | search driver    |
| ray_codemix_device_seconds_total      | counter |                 | trial drivers    |
| ray_codemix_eval_seconds              | gauge   | trial           | trial drivers    |

Recording never fails a trial: outside Ray (unit tests, the Ray-free loop) it is a no-op.
"""

from __future__ import annotations

import functools

from codemix_search.core.records import TrialReport

PREFIX = "ray_"
GAUGES = {
    "codemix_tokens_per_second": ("Training tokens per second of a trial", ("trial",)),
    "codemix_tokens_total": ("Training tokens a trial has consumed", ("trial",)),
    "codemix_train_loss": ("Training loss (mean since the last report)", ("trial",)),
    "codemix_val_loss": ("Validation loss per source", ("trial", "source")),
    "codemix_phase": ("Phase of a trial: 0 continued pretraining, 1 cooldown", ("trial",)),
    "codemix_trials": ("Trials by status: running, finished, pruned, diverged, error", ("status",)),
    "codemix_best_hypervolume": ("Hypervolume of the current Pareto front", ()),
    "codemix_eval_seconds": ("lm-eval wall time of a finished trial", ("trial",)),
}
COUNTERS = {
    "codemix_device_seconds_total": ("Worker-seconds of training plus evaluation spent", ()),
}


def prometheus_names() -> set[str]:
    """The names as Prometheus sees them (what dashboards may query)."""
    return {PREFIX + n for n in (*GAUGES, *COUNTERS)}


@functools.lru_cache(maxsize=1)
def _registry() -> dict:
    # imported here, not at the top: Ray: 0.5 s (Tune, Train: 1.5-2.5 s); not needed offline
    from ray.util.metrics import Counter, Gauge

    out = {n: Gauge(n, description=d, tag_keys=t) for n, (d, t) in GAUGES.items()}
    out.update({n: Counter(n, description=d, tag_keys=t) for n, (d, t) in COUNTERS.items()})
    return out


def _ray_up() -> bool:
    try:
        # imported here, not at the top: Ray: 0.5 s (Tune, Train: 1.5-2.5 s); not needed offline
        import ray

        return ray.is_initialized()
    except ImportError:
        return False


def record(name: str, value: float, **tags: str) -> None:
    """Set a gauge / add to a counter; silently nothing when Ray is not running."""
    if not _ray_up():
        return
    try:
        metric = _registry()[name]
        if name in COUNTERS:
            metric.inc(float(value), tags=tags or None)
        else:
            metric.set(float(value), tags=tags or None)
    except Exception:  # noqa: BLE001 - metrics must never take a trial down
        pass


def record_report(trial: str, metrics: dict) -> None:
    """What a training report says, as gauges (called by rank 0 of each trial)."""
    if TrialReport.of(metrics).diverged:
        return
    record("codemix_tokens_per_second", metrics.get("tokens_per_s", 0.0), trial=trial)
    record("codemix_tokens_total", metrics.get("tokens", 0), trial=trial)
    record("codemix_train_loss", metrics.get("train_loss", 0.0), trial=trial)
    record("codemix_phase", 1 if metrics.get("phase") == "cooldown" else 0, trial=trial)
    for key, value in metrics.items():
        if key.startswith("val_loss/"):
            record("codemix_val_loss", value, trial=trial, source=key.split("/", 1)[1])
