"""Ranking and export (no Ray): Pareto front of finished trials -> recipes + leaderboard.

Layout of ``<storage>/<name>/``:
  space.yaml            the resolved search space (after overrides)
  records.jsonl         one line per trial: status, config, mixture, objectives, metrics
  leaderboard.csv       every trial ranked (fronts, then a normalised score)
  recipes/<trial>.yaml  one per Pareto-optimal finished trial; recipes/_SUCCESS when all are written
  _SUCCESS              the run finished and everything above is complete
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import time

from codemix_search import __version__
from codemix_search.config.sections import RUN_ONLY_KNOBS
from codemix_search.config.space import SearchSpace
from codemix_search.core.ledger import run_totals, trial_cost
from codemix_search.core.mixture import PHASES, rounded_weights
from codemix_search.core.records import RecordError, TrialRecord
from codemix_search.data.dataset import read_manifest
from codemix_search.errors import ConfigError
from codemix_search.export.formats import EXPORTERS
from codemix_search.export.measure_units import measure, sample_sources
from codemix_search.export.report import write_report
from codemix_search.export.tables import front_of, leaderboard_csv, ranked
from codemix_search.export.units import convert
from codemix_search.storage.folder import Folder
from codemix_search.storage.layout import DatasetLayout, RunLayout

RECIPE_VERSION = 1


def recipe(
    record: TrialRecord,
    space: SearchSpace,
    run_name: str,
    data_info: dict,
    tied_with: list[str] | None = None,
    signal: dict | None = None,
    run_uri: str | None = None,
    bytes_per_token: dict | None = None,
) -> dict:
    t = space.training_for(record.config)
    m = record.metrics
    return {
        "recipe_version": RECIPE_VERSION,
        "generated_by": f"codemix_search {__version__}: Pareto-optimal trial of run {run_name!r}",
        "trial_id": record.trial_id,
        "mixture_id": record.mixture_id,
        "phases": {
            phase: {
                "token_share": round(
                    1 - t.cooldown_share if phase == "pretrain" else t.cooldown_share, 6
                ),
                "weights": rounded_weights(record.mixture[phase]),
            }
            for phase in PHASES
        },
        "shares": record.mixture["shares"],
        "units": recipe_units(record.mixture, bytes_per_token),
        "objectives": record.objectives,
        "vs_baseline": dataclasses.asdict(record.vs_baseline) if record.vs_baseline else None,
        "cost": record.cost.to_dict() if record.cost else None,
        "objective_modes": dict(zip(space.metric_names, space.modes, strict=True)),
        # Front members within the minimum detectable difference of this one on every
        # objective: the run cannot tell them apart (report.md, "Can the objectives ...").
        "statistically_tied_with": tied_with or [],
        "objective_noise": {
            n: {k: v.get(k) for k in ("snr", "mdd", "verdict")} for n, v in (signal or {}).items()
        },
        # Every knob that says what was trained (the run-only ones left out: config/sections.py),
        # ``init`` included: where continued pretraining started (the paper's bases or a
        # user's checkpoint); a recipe without it is not reproducible.
        "training": {k: v for k, v in dataclasses.asdict(t).items() if k not in RUN_ONLY_KNOBS},
        "seed": space.seed,
        "provenance": {
            "space_file": space.source_file,
            "sampler": space.sampler,
            "data": data_info,
            "trial_seed": m.get("seed"),
            # Where the checkpoint is now: inside this run folder, also when the run was
            # copied or resumed elsewhere (the record names where it was first written).
            "checkpoint_uri": _here(m.get("checkpoint_uri"), run_uri, run_name),
            # The same, relative to the run folder: a run copied elsewhere keeps the link.
            "checkpoint_in_run": _in_run(m.get("checkpoint_uri"), run_uri, run_name),
            "git_commit": git_commit(),
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        },
    }


def recipe_units(mixture: dict, bytes_per_token: dict | None) -> dict:
    """What the weights are, each source's UTF-8 bytes per proxy token (measured on the run's
    train split, export/measure_units.py) and the weights as byte shares; for another
    tokenizer's units: ``codemix_search export RUN --tokenizer T``."""
    out = {"weights_are": "shares of tokens under the proxy's tokenizer"}
    if not bytes_per_token:
        return out | {"bytes_per_token": None, "byte_weights": None,
                      "why_not": "the run's dataset is not readable from here"}  # fmt: skip
    per = {s: v["mean"] for s, v in bytes_per_token.items()}
    byte_weights = {}
    for phase in PHASES:
        w = {s: v for s, v in mixture[phase].items() if v > 0}
        byte_weights[phase] = {s: round(v, 6) for s, v in sorted(convert(w, per).items())}
    return out | {"bytes_per_token": bytes_per_token, "byte_weights": byte_weights}


def proxy_bytes_per_token(data_info: dict) -> dict | None:
    """Each source's bytes per proxy token ({source: BytesPerToken.to_dict()}), or None where
    the run's dataset cannot be read (a copied run without its data)."""
    try:
        data = Folder(data_info["uri"])
        if not data.exists(DatasetLayout.MANIFEST):
            return None
        manifest = read_manifest(data)
        texts = sample_sources(data.uri, manifest, manifest.source_names)
    except Exception:  # noqa: BLE001 - units are an addition to the recipe, never its failure
        return None
    return {s: v["proxy"].to_dict() for s, v in measure(texts).items()}


def _here(uri: str | None, run_uri: str | None, run_name: str) -> str | None:
    inside = _in_run(uri, run_uri, run_name)
    return f"{run_uri.rstrip('/')}/{inside}" if inside and run_uri else uri


def _in_run(uri: str | None, run_uri: str | None, run_name: str) -> str | None:
    """A checkpoint's path inside the run folder (``train/...``), also when the records were
    written at another location of the same run (a copied or moved run folder)."""
    if not uri or not run_uri:
        return None
    root = run_uri.rstrip("/") + "/"
    if uri.startswith(root):
        return uri[len(root) :]
    marker = f"/{run_name}/train/"
    if marker in uri:
        return "train/" + uri.rsplit(marker, 1)[1]
    return None


def git_commit() -> str | None:
    """This checkout's commit (None where there is no git, e.g. a job's uploaded working dir)."""
    try:
        out = subprocess.run(
            ["git", "-C", os.path.dirname(os.path.abspath(__file__)), "rev-parse", "HEAD"],
            capture_output=True,
            timeout=10,
            check=True,
        )
        return out.stdout.decode().strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def export_run(
    records: list[TrialRecord],
    space: SearchSpace,
    run: Folder,
    run_name: str,
    data_info: dict,
    paths: dict | None = None,
) -> list[str]:
    """Write records, leaderboard, the report, and per Pareto-optimal trial a recipe; with
    ``paths`` (source -> the team's copy of it, already in the trainer's format) also its
    Megatron / MosaicML / OLMo-core blends over those paths. Without ``paths`` no trainer file
    is written (one over raw JSONL paths would not run: ``export RUN --format F`` writes data
    and configs a trainer runs). Returns recipe URIs; ``recipes/_SUCCESS`` is written last."""
    layout = RunLayout(run)
    if paths:  # checked before anything is written
        used = {
            s
            for r in records
            for p in PHASES
            for s, w in (r.mixture or {}).get(p, {}).items()
            if w > 0
        }
        missing = sorted(used - set(paths))
        if missing:
            raise ConfigError("--paths", missing[0], "no path for this source: add one")
    records = [  # the cost ledger: tokens, FLOPs, device-seconds, what stopping saved
        r.with_export(cost=trial_cost(r, space, space.data.vocab_size)) for r in records
    ]
    run.write_json(
        RunLayout.LEDGER,
        {
            "totals": run_totals([r.cost for r in records]),
            "trials": {r.trial_id: r.cost.to_dict() for r in records},
        },
    )
    rows = ranked(records, space)
    run.write_text(
        RunLayout.RECORDS,
        "".join(json.dumps(r.to_dict(), default=str, sort_keys=True) + "\n" for r in records),
    )
    run.write_text(RunLayout.LEADERBOARD, leaderboard_csv(rows, space))
    summary = write_report(rows, space, run)
    recipes = layout.recipes
    uris = []
    bytes_per_token = proxy_bytes_per_token(data_info)
    front = front_of(records, space)
    _remove_stale(recipes, {r.trial_id for r in front}, keep_trainer_files=bool(paths))
    for r in front:
        rec = recipe(
            r,
            space,
            run_name,
            data_info,
            summary.ties.get(r.trial_id),
            summary.signal,
            run.uri,
            bytes_per_token,
        )
        uris.append(recipes.write_yaml(f"{r.trial_id}.yaml", rec))
        for fmt, fn in EXPORTERS.items() if paths else ():
            recipes.write_json(f"{r.trial_id}.{fmt}.json", fn(rec, paths))
    recipes.mark_success({"recipes": len(uris)})
    return uris


def _remove_stale(recipes: Folder, front: set[str], keep_trainer_files: bool) -> None:
    """A trial no longer on the front keeps no recipe; without --paths, no blend of an earlier
    --paths export stays (it named the team's copies, which this export did not check)."""
    trainer_files = tuple(f".{fmt}.json" for fmt in EXPORTERS)
    for name in recipes.listdir():
        stem = name.split(".", 1)[0]
        if name.endswith(".yaml") and stem not in front:
            recipes.remove(name)
        elif name.endswith(trainer_files) and (stem not in front or not keep_trainer_files):
            recipes.remove(name)


def load_run(
    run: Folder, need: tuple[str, ...] = (RunLayout.SPACE, RunLayout.RECORDS)
) -> list[TrialRecord]:
    """A run folder's records (one per trial); one-line error when it is not a run folder or its
    records are of another schema version."""
    for name in need:
        if not run.exists(name):
            raise ConfigError(run.file(name), "", "missing: is this a codemix_search run folder?")
    out = []
    for i, line in enumerate(run.read_text(RunLayout.RECORDS).splitlines(), 1):
        if not line.strip():
            continue
        where = f"{run.file(RunLayout.RECORDS)}:{i}"
        try:
            out.append(TrialRecord.from_dict(json.loads(line), where))
        except json.JSONDecodeError:
            raise ConfigError(
                where, "", "not JSON: the file is damaged; rerun the export"
            ) from None
        except RecordError as e:
            raise ConfigError(where, "", str(e).split(": ", 1)[1]) from None
    return out
