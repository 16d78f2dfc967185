"""A run, in the order it happens: check the request, start Ray, build (or reuse) the data and
the bases, search, export, mark the run complete.

``check_request`` touches nothing; ``execute`` is everything after it. The CLI (run.py) parses
flags and calls both; tests and ``ray job submit`` go through the same two functions.
"""

from __future__ import annotations

import logging
import os
import re
import time
from dataclasses import dataclass

from codemix_search import preflight
from codemix_search.analysis.budget import cost_plan, learn_from_finished_run
from codemix_search.cluster import resource_plan, start_ray
from codemix_search.config.load import load_space
from codemix_search.config.space import SearchSpace
from codemix_search.core.costs import RUN_OVERHEAD_S
from codemix_search.core.ledger import line, run_totals
from codemix_search.core.records import TrialStatus
from codemix_search.core.suites import suite_for
from codemix_search.data.build import prepare_space_data
from codemix_search.data.dataset import DataRef, materialize, read_manifest
from codemix_search.demo.make_sources import space_sources
from codemix_search.errors import CodemixError, ConfigError, StorageError
from codemix_search.evaluate.baseline import with_baseline_comparison
from codemix_search.evaluate.tasks import keep_tasks
from codemix_search.export.formats import default_paths
from codemix_search.storage.folder import DamagedFile, Folder, check_uri
from codemix_search.storage.layout import LAYOUT_VERSION, DatasetLayout, RunLayout
from codemix_search.storage.lock import RunLock
from codemix_search.train.bases import ensure_bases

log = logging.getLogger(__name__)
MAX_NAME = 100  # a run name is a folder and a prefix of Tune's trial folder names


@dataclass(frozen=True)
class Request:
    """What the user asked for, checked: the space, where the run goes and its name."""

    space: SearchSpace
    storage: Folder
    run: Folder
    name: str
    resume: bool
    allow_new_data: bool = False
    """On --resume, continue even if the dataset comes out under another key (the report then
    says which trials used which dataset)."""
    verbose: bool = False
    """Tune's status tables and Ray Data's progress logs on the console, besides the one-line
    progress view."""


def check_request(
    space_file: str | None,
    overrides: list[str],
    storage_uri: str,
    name: str | None,
    resume: bool,
    space: SearchSpace | None = None,
    allow_new_data: bool = False,
) -> Request:
    """The space of a new run (``space``, or read from ``space_file``), or of the run to resume
    (its own space.yaml: a --space or overrides given with --resume are refused, never dropped
    without a word)."""
    if not storage_uri or not storage_uri.strip():
        raise ConfigError("--storage", "", "empty: give a folder or a URI (s3://bucket/prefix)")
    check_uri(storage_uri, "--storage")
    # Resolved here, on the driver: Ray workers run in their own working folder, where a
    # relative path names another place (the data "missing" on every worker).
    storage = Folder(absolute_storage(storage_uri))
    preflight.check_storage(storage)
    if name is not None:
        check_name(name)
    if resume:
        if not name:
            raise ConfigError("--resume", "", "give the --name of the run to continue")
        given = ([f"--space {space_file}"] if space_file else []) + list(overrides)
        if given:
            raise ConfigError(
                "--resume",
                "",
                f"continues {name} with the settings it started with; {', '.join(given)} would "
                "not apply: drop them, or start a new --name to change the space",
            )
        run = storage.child(name)
        if not run.exists(RunLayout.SPACE):
            raise ConfigError(run.file(RunLayout.SPACE), "", "missing: no such run to resume")
        _check_layout(run)
        space = load_space(run.file(RunLayout.SPACE))
    elif space is not None:
        pass
    elif not space_file:
        raise ConfigError("--space", "", "required (or --resume --name RUN)")
    else:
        space = load_space(space_file, overrides)
    name = name or f"{space.name}-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}"
    check_name(name)
    run = storage.child(name)
    if run.is_complete():
        raise ConfigError("--name", "", f"run {run.uri} already finished; pick another --name")
    preflight.check_inits(space)
    preflight.check_budget(space)
    if run.exists(RunLayout.SPACE) and not resume:
        raise ConfigError(
            "--name", "", f"run {run.uri} exists; add --resume to continue it, or pick another"
        )
    if allow_new_data and not resume:
        raise ConfigError("--allow-new-data", "", "only means something with --resume")
    return Request(space, storage, run, name, resume, allow_new_data)


def _recorded_data(req: Request, run: Folder):
    """On a resume, the run's own dataset when it is still complete where run.json says."""
    if not req.resume or not run.exists(RunLayout.RUN):
        return None
    try:
        uri = (run.read_json(RunLayout.RUN).get("data") or {}).get("uri")
        data = Folder(uri) if uri else None
        if data is None or not data.is_complete() or not data.exists(DatasetLayout.MANIFEST):
            return None
        return DataRef(data.uri, read_manifest(data))
    except (DamagedFile, ConfigError):
        return None


def _data_history(req: Request, run: Folder, key: str) -> list[dict]:
    """On a resume, the datasets the run's trials used so far. A dataset that comes out under
    another key (its sources changed, or a cache rebuilt them differently) would put trials of
    two datasets on one front: refused unless --allow-new-data, which records which trials
    used which dataset (report.md says so)."""
    if not req.resume or not run.exists(RunLayout.RUN):
        return []
    try:
        before = run.read_json(RunLayout.RUN)
    except DamagedFile:
        return []
    history = list(before.get("data_history") or [])
    old = (before.get("data") or {}).get("key")
    if not old or old == key:
        return history
    if not req.allow_new_data:
        raise ConfigError(
            "--resume",
            "",
            f"the run's dataset {old} would now be {key} (its sources changed, or its cache "
            "was rebuilt differently): trials of two datasets would share one front; restore "
            "the data, start a new --name, or pass --allow-new-data to continue and have the "
            "report mark which trials used which",
        )
    # every trial that wrote its folder so far trained on the old dataset
    trials = run.child("trials").listdir()
    used = {t for h in history for t in h["trials"]}
    return [*history, {"key": old, "trials": [t for t in trials if t not in used]}]


def absolute_storage(uri: str) -> str:
    if uri.startswith("file://"):
        return "file://" + os.path.abspath(uri[len("file://") :])
    return uri if "://" in uri else os.path.abspath(os.path.expanduser(uri))


def _check_layout(run: Folder) -> None:
    """Runs started before the stage layout pickled the searcher under module paths that no
    longer exist: Tune cannot restore them. Say so instead of failing inside Tune."""
    if not run.exists(RunLayout.RUN):
        return
    try:
        layout = run.read_json(RunLayout.RUN).get("layout")
    except DamagedFile:
        # run.json is derived (name, layout, data): the resume writes it again.
        log.warning("%s is damaged; the resume writes it again", run.file(RunLayout.RUN))
        return
    if layout != LAYOUT_VERSION:
        raise ConfigError(
            run.file(RunLayout.RUN),
            "layout",
            "the run predates this version's layout and cannot be resumed; start a new run "
            "(its finished trials stay readable with `codemix_search export`)",
        )


def check_name(name: str) -> None:
    """A run name is one folder: letters, digits, '-', '_', '.', never '..' or a path."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name) or ".." in name:
        raise ConfigError("--name", "", f"{name[:60]!r}: use letters, digits, '-', '_' or '.'")
    if len(name) > MAX_NAME:
        raise ConfigError("--name", "", f"{len(name)} characters; use at most {MAX_NAME}")


def execute(req: Request, address: str | None) -> int:

    space, run = req.space, req.run
    t0 = time.time()
    with RunLock(run) as lock:  # one live driver per run folder
        if lock.took_over:
            print(
                f"codemix_search: taking over {run.uri} (its last driver, pid "
                f"{lock.took_over.get('pid')} on {lock.took_over.get('host')}, is gone)"
            )
        started = start_ray(address, space.budget.concurrency)
        return _execute(req, space, run, started, t0)


def _execute(req: Request, space: SearchSpace, run: Folder, started: bool, t0: float) -> int:
    # imported here, not at the top: Ray: 0.5 s (Tune, Train: 1.5-2.5 s); not needed offline;
    # search.progress pulls pandas, pyarrow, ray; search.tuner pulls optuna, pandas, pyarrow, ray
    import ray

    from codemix_search.search.progress import ProgressLine
    from codemix_search.search.tuner import search

    # Where the wall-clock went (in _SUCCESS): what `codemix_search plan` predicts is checked
    # against these (docs/plan.md), the one-time data build apart.
    stages = {"start_seconds": round(time.time() - t0, 1)}
    try:
        # With Ray up, the data build (a no-op when the dataset exists) runs on Ray Data.
        t = time.time()
        # A resume trains on the dataset its trials used (run.json), also from a head with
        # another cache (which would build the demo data under another key); only when that
        # dataset is gone is it built again (and checked against the recorded key below).
        data = _recorded_data(req, run) or prepare_space_data(
            space, *space_sources(space), req.storage
        )
        stages["data_seconds"] = round(time.time() - t, 1)
        preflight.check_validation_splits(space, data.manifest)
        if space.evaluation.suite == "demo" and not data.manifest.eval:
            raise ConfigError(
                space.source_file,
                "evaluation.suite",
                "the demo suite needs the demo data's eval items (sources.yaml eval_items)",
            )
        run.write_yaml(RunLayout.SPACE, space.to_dict())
        data_info = {
            "uri": data.uri,
            "tokenizer_sha256": data.manifest.tokenizer_sha256,
            "key": data.manifest.key,
            "paths": default_paths(data.manifest),
        }
        history = _data_history(req, run, data_info["key"])
        run.write_json(
            RunLayout.RUN,
            {"name": req.name, "layout": LAYOUT_VERSION, "data": data_info}
            | ({"data_history": history} if history else {}),
        )
        _keep_tasks(space, data, run)
        plan = resource_plan(space)
        preflight.check_cluster(space, plan, started, ray.cluster_resources())
        t = time.time()
        inits = ensure_bases(space, data, req.storage, plan)  # trained once, then cached
        stages["bases_seconds"] = round(time.time() - t, 1)
        print(
            f"codemix_search: run {run.uri}: {space.budget.samples} trials, {plan.concurrency} at a time, driver {plan.driver}, {plan.workers} x worker {plan.worker}"
        )
        t = time.time()
        console = ProgressLine(space, space.budget.samples, _planned_search_seconds(space))
        records = search(
            space, data, run, plan, inits, req.resume, console=console, verbose=req.verbose
        )
        stages["search_seconds"] = round(time.time() - t, 1)
    finally:
        if started:
            ray.shutdown()
    return finish(records, space, run, req.name, data_info, t0, stages)


def _planned_search_seconds(space: SearchSpace) -> float | None:
    """The plan's wall-clock for the trials alone (not the start or the bases), for the
    console's "left" (None when the space has no plan)."""
    try:
        p = cost_plan(space)
    except ConfigError:
        return None
    return max(0.0, p.wall_seconds - p.bases_seconds - RUN_OVERHEAD_S)


def _keep_tasks(space: SearchSpace, data, run: Folder) -> None:
    """The lm-eval task files the trials score with, kept in the run (evaluate/tasks.py)."""
    tasks = RunLayout(run).tasks
    if tasks.is_complete():  # a resumed run keeps what its trials scored with
        return
    suite = suite_for(space.evaluation)
    eval_dir = (
        os.path.join(materialize(data.uri, data.manifest), DatasetLayout.EVAL)
        if suite.local
        else None
    )
    keep_tasks(suite, eval_dir, tasks, space.evaluation.generative_prompts)


def finish(
    records, space: SearchSpace, run: Folder, name: str, data_info: dict, t0: float, stages=None
) -> int:
    """Export what the search found, then ``_SUCCESS`` (counts, wall-clock and its ``stages``);
    print the table and the ledger."""
    # imported here, not at the top: the export pulls optuna
    from codemix_search.export import recipes as export
    from codemix_search.export.tables import ranked, trials_table

    # Scored against the baseline (the judge's win-rates) here, once: the export only writes.
    records = with_baseline_comparison(records, space, run)
    try:
        uris = export.export_run(records, space, run, name, data_info)
    except StorageError:
        # Storage full or gone at the end: what finished is still shown (from memory), then the
        # one-line error; the run stays unfinished, and `--resume` exports once space is back.
        print("\n" + trials_table(ranked(records, space), space))
        print("(not saved: the run's storage refused the export; see the error below)")
        raise
    counts = {s: sum(r.status is s for r in records) for s in TrialStatus}
    budget_cut = [r for r in records if (r.metrics or {}).get("stopped_by")]
    if budget_cut:
        print(
            f"\n{len(budget_cut)} trials cut by {budget_cut[0].metrics['stopped_by']} "
            "(recorded as interrupted, not as early stopping)"
        )
    if counts[TrialStatus.INTERRUPTED] > len(budget_cut):  # a signal stopped the search
        # What finished is exported (records, report, recipes so far); the run is not marked
        # finished, so `--resume` continues the interrupted trials and the rest of the budget.
        print(
            f"\ninterrupted: {counts[TrialStatus.INTERRUPTED]} trials did not finish, {counts[TrialStatus.FINISHED]} "
            f"did (recipes so far in {RunLayout(run).recipes.uri}); continue with "
            f"`--resume --name {name}`"
        )
        return 130
    if not counts[TrialStatus.FINISHED]:
        # Nothing trained to the end and was scored: no front, no recipe; not a finished run.
        cause = next(
            (r.error for r in records if r.error),
            "the budget ended every trial" if budget_cut else "see the trials' error files",
        )
        print(
            f"\nno trial finished ({counts[TrialStatus.ERROR]} errors, {counts[TrialStatus.DIVERGED]} diverged, "
            f"{counts[TrialStatus.PRUNED]} pruned, {len(budget_cut)} cut by the budget); first cause: "
            f"{cause}\nthe run is left unfinished (no _SUCCESS); fix the cause and start a "
            "new --name"
        )
        return 1
    run.mark_success(
        {
            "records": len(records),
            **{s.value: n for s, n in counts.items()},
            "recipes": len(uris),
            "wall_seconds": round(time.time() - t0, 1),
            **(stages or {}),
        }
    )
    _learn_throughput(run, space)
    rows = export.load_run(run)  # as exported: with the cost ledger
    print()
    print(trials_table(ranked(rows, space), space))
    print(line(run_totals([r.cost for r in rows if r.cost])))
    print(
        f"\n{counts[TrialStatus.FINISHED]} finished, {counts[TrialStatus.PRUNED]} pruned, {counts[TrialStatus.DIVERGED]} diverged, {counts[TrialStatus.ERROR]} errors; "
        f"{len(uris)} recipes in {RunLayout(run).recipes.uri} ({time.time() - t0:.0f} s)"
    )
    return 0


def _learn_throughput(run: Folder, space: SearchSpace) -> None:
    """The run's measured throughput goes into this machine's table (analysis/budget.py), so
    the next plan of this model on this device is measured, not estimated."""
    try:
        row = learn_from_finished_run(run.uri, space.training.model)
    except (CodemixError, OSError, KeyError, ZeroDivisionError) as e:
        log.warning("throughput not learnt from this run (%s)", e)
        return
    if row is not None:
        log.info("throughput of %s on %s learnt: %.0f tokens/s", row.model, row.device,
                 row.tokens_per_s)  # fmt: skip
