"""Every file name of a run folder, in one place (the run folder is the product's output).

<storage>/<run>/
  space.yaml        the resolved space (what --resume and export read)
  run.json          name, layout version, the dataset the run trained on
  records.jsonl     one TrialRecord a line (core/records.py)
  leaderboard.csv   ranked finished trials
  ledger.json       cost per trial and in total
  rungs.jsonl       each early-stopping decision on the objectives: trial, rung, values, why
  optuna.db         the Optuna study (local runs: SQLite)
  optuna.journal    the Optuna study (remote runs: Optuna's journal, storage/journal.py)
  tune/             Tune's experiment state (searcher, trials): `--resume` restores it,
                    from a new head too when the run is on S3
  recipes/          <trial>.yaml per Pareto-optimal trial, trainer exports, _SUCCESS
  report/           report.md/.json, Pareto plot, _SUCCESS
  tasks/            the lm-eval task files (YAMLs, metrics shim, items) trials scored with
  exports/<format>/ `codemix_search export RUN --format F`: trainer data + per-trial configs
  trials/<id>/      trial.json, curve.jsonl, result.json, generations.json, items.json,
                    noise.json
  by_seed/<seed>.json   which trial trained a seed first (twins are reused, not retrained)
  train/            Ray Train's own storage (checkpoints)
  _SUCCESS          written last, when everything above is
"""

from __future__ import annotations

from dataclasses import dataclass

from codemix_search.storage.folder import Folder

# Runs written before the stage layout (2026-11) pickled the searcher under other module
# paths: Tune cannot restore them. run.json names the layout so --resume can say so.
LAYOUT_VERSION = 2


class DatasetLayout:
    """Every name in a built dataset folder (<storage>/_data/<key>/, data/build.py writes it):
    ``manifest.json`` (sources, splits, shards with sizes and sha256, the tokenizer's hash, the
    key), ``tokenizer/`` (tokenizer.json), ``eval/`` (the eval items, when the sources name
    them), the shards, ``_SUCCESS`` last."""

    MANIFEST = "manifest.json"
    TOKENIZER = "tokenizer"
    EVAL = "eval"


def sqlite_path_problem(path: str) -> str | None:
    """Why a local run folder cannot hold ``optuna.db``, or None: Optuna is given a
    ``sqlite:///<path>`` URL, in which '?', '#' and '%' are URL syntax (the study would go to
    another file)."""
    if set(path) & set("?#%"):
        return (
            f"{path!r} holds one of '?', '#', '%': the run's SQLite study URL would read them as "
            "URL syntax and put the study elsewhere; use a path without them"
        )
    return None


@dataclass(frozen=True)
class RunLayout:
    """A run folder and the names of everything in it."""

    folder: Folder

    SPACE = "space.yaml"
    RUN = "run.json"
    RECORDS = "records.jsonl"
    LEADERBOARD = "leaderboard.csv"
    LEDGER = "ledger.json"
    RUNGS = "rungs.jsonl"
    OPTUNA_DB = "optuna.db"
    OPTUNA_JOURNAL = "optuna.journal"
    TUNE = "tune"

    @classmethod
    def at(cls, uri: str) -> RunLayout:
        return cls(Folder(uri))

    @property
    def uri(self) -> str:
        return self.folder.uri

    @property
    def recipes(self) -> Folder:
        return self.folder.child("recipes")

    @property
    def report(self) -> Folder:
        return self.folder.child("report")

    @property
    def tasks(self) -> Folder:
        """lm-eval's ``--include_path`` for scoring a checkpoint as the search did."""
        return self.folder.child("tasks")

    def exports(self, fmt: str) -> Folder:
        return self.folder.child("exports", fmt)

    @property
    def by_seed(self) -> Folder:
        return self.folder.child("by_seed")

    @property
    def train(self) -> Folder:
        """Ray Train's storage for the trials' checkpoints."""
        return self.folder.child("train")

    def trial(self, trial_id: str) -> TrialLayout:
        return TrialLayout(self.folder.child("trials", trial_id))


@dataclass(frozen=True)
class TrialLayout:
    """One trial's folder: it describes itself (config, mixture, versions, curve, result)."""

    folder: Folder

    TRIAL = "trial.json"
    CURVE = "curve.jsonl"
    RESULT = "result.json"
    GENERATIONS = "generations.json"
    ITEMS = "items.json"
    """{task: {metric: per-item values}} at the final checkpoint (paired comparisons)."""
    NOISE = "noise.json"
    """{objective key: values at the last k checkpoints} (checkpoint-to-checkpoint noise)."""
