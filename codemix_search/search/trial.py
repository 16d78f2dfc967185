"""One trial = a Tune function (the driver) that runs a Ray Train V2 TorchTrainer, then lm-eval.

The TorchTrainer's reports reach Tune through ``TuneReportCallback``, so ASHA sees validation loss
as training goes and can stop the trial. A trial that finishes training is scored with lm-eval and
reports once more with the objectives and ``evaluated=1``; only such trials are "finished". The
trial folder describes itself: resolved config, mixture (with the shares it came from), data
manifest hash and package versions.
"""

from __future__ import annotations

import importlib.metadata as md
import json
import os
import statistics
import time

from ray import tune
from ray.tune.integration.ray_train import TuneReportCallback

from codemix_search.config.space import SearchSpace
from codemix_search.core.plan import ResourcePlan
from codemix_search.core.records import TrialReport, TrialStatus
from codemix_search.core.seeds import derive_seed
from codemix_search.core.suites import suite_for
from codemix_search.data.dataset import DataManifest, materialize
from codemix_search.errors import DataError
from codemix_search.evaluate.rung_metric import rung_pairs
from codemix_search.search.scoring import score_trial
from codemix_search.storage.folder import Folder
from codemix_search.storage.layout import DatasetLayout, RunLayout, TrialLayout
from codemix_search.train.checkpoint import record_curve
from codemix_search.train.launch import checkpoint_uri, make_trainer
from codemix_search.train.loop_config import loop_config
from codemix_search.train.prefix import SharedPrefix, branch_config, ensure_prefix


def versions() -> dict:

    out = {}
    for pkg in (
        "codemix_search",
        "ray",
        "torch",
        "transformers",
        "optuna",
        "lm_eval",
        "tokenizers",
    ):
        try:
            out[pkg] = md.version(pkg.replace("_", "-") if pkg == "lm_eval" else pkg)
        except md.PackageNotFoundError:
            out[pkg] = "unknown"
    return out


def run_trial(
    config: dict,
    space: SearchSpace,
    data_uri: str,
    manifest: DataManifest,
    run_uri: str,
    plan: ResourcePlan,
    inits: dict[str, str] | None = None,
) -> None:
    """The Tune function: report a result already on storage, or train, then evaluate."""
    # imported here, not at the top: torch: 1.4 s to import
    import torch

    torch.set_num_threads(1)
    trial_id = tune.get_context().get_trial_id()
    run = RunLayout.at(run_uri)
    trial = run.trial(trial_id)
    mixture = space.mixture(config)
    training = space.training_for(config)
    # Seeded by what the trial IS (study seed + mixture + knobs), not by Tune's random trial id:
    # the same mixture retrains to the same curve, in this run or a replay.
    seed = derive_seed(space.seed, "trial", mixture.id, _knobs(training))
    saved = _saved_result(run, trial, trial_id, seed, mixture.id)
    if saved is not None:
        tune.report(saved)
        return
    cfg = loop_config(space, config, data_uri, manifest, seed, inits)
    if space.early_stopping.metric == "objectives":
        cfg = cfg.replace(rung_pairs=_rung_pairs(space, data_uri, manifest))
    prefix = None
    if space.branches_cooldowns:
        cfg, prefix = _branch(cfg, space, run, trial, trial_id, plan, training.max_failures)
    described = _description(trial_id, config, mixture, training, seed, data_uri, manifest, cfg)
    trial.folder.write_json(TrialLayout.TRIAL, described | _prefix_fields(prefix, cfg))
    t0 = time.time()
    result = _train(
        cfg.replace(curve_folder=trial.folder.uri),
        run,
        trial_id,
        space,
        plan,
        training.max_failures,
    )
    train_seconds = time.time() - t0 + (prefix.seconds if prefix else 0.0)
    last = dict(result.metrics or {})
    if TrialReport.of(last).diverged:
        status = TrialReport.keys(TrialStatus.DIVERGED)
        tune.report({**last, **status, "train_seconds": train_seconds})
        return
    if result.checkpoint is None:
        raise DataError(trial.folder.uri, "checkpoint", "training ended without a final checkpoint")
    scores = score_trial(result, space, data_uri, manifest, training)
    noise_std = {
        f"noise_std/{k}": statistics.stdev(v) for k, v in scores.noise.items() if len(v) >= 2
    }
    final = {
        **last,
        **scores.objectives,
        **scores.flat,
        **noise_std,
        **TrialReport.keys(TrialStatus.FINISHED),
        "baseline": int(space.is_baseline(config)),
        "seed": seed,
        "mixture_id": mixture.id,
        "train_seconds": train_seconds,
        "eval_seconds": scores.eval_seconds,
        "checkpoint_uri": checkpoint_uri(result.checkpoint, run.train.uri),
        **_prefix_fields(prefix, cfg),
    }
    # Per-item scores (paired differences between trials) and the objectives at the last k
    # checkpoints (checkpoint noise): what the report's signal-to-noise table is made of.
    trial.folder.write_json(TrialLayout.ITEMS, scores.items)
    trial.folder.write_json(TrialLayout.NOISE, scores.noise)
    # Generations are kept for the judged win-rate against the baseline (after the search).
    trial.folder.write_json(TrialLayout.GENERATIONS, scores.generations)
    trial.folder.write_json(
        TrialLayout.RESULT, {k: v for k, v in final.items() if not isinstance(v, dict)}
    )
    run.by_seed.write_json(f"{seed}.json", {"trial_id": trial_id, "mixture_id": mixture.id})
    tune.report(final)


def _branch(cfg, space: SearchSpace, run: RunLayout, trial, trial_id: str, plan, max_failures):
    """Make sure the trial's shared pretraining prefix exists (train it, wait for the trial
    training it, or find it cached: train/prefix.py), replay its reports to the scheduler and
    into the trial's curve, and return the loop config that trains only the cooldown from it."""
    cfg = branch_config(cfg, space.seed)
    storage = Folder(run.uri.rstrip("/").rsplit("/", 1)[0])  # the run's storage: shared by runs
    train_root = run.train.uri if not run.train.is_local else run.train.local_path()

    def train_prefix(pcfg, scratch: Folder) -> tuple[str, list[dict]]:
        result = make_trainer(
            pcfg.replace(curve_folder=scratch.uri), plan, f"prefix-{trial_id}", train_root,
            max_failures=max_failures, keep_checkpoints=1,
        ).fit()  # fmt: skip
        if TrialReport.of(result.metrics).diverged or result.checkpoint is None:
            raise DataError(scratch.uri, "training.lr", "the shared prefix diverged: lower lr")
        rows = scratch.read_text(TrialLayout.CURVE).splitlines()
        return checkpoint_uri(result.checkpoint, train_root), [json.loads(x) for x in rows if x]

    prefix = ensure_prefix(storage, cfg, train_prefix, made_by=run.trial(trial_id).folder.uri)
    shared = 0 if prefix.trained_here else prefix.tokens
    for row in prefix.curve:  # the same reports the trial would have made itself
        row = {**row, **({"shared_tokens": shared} if shared else {})}
        record_curve(trial.folder, row)
        tune.report(row)
    return cfg.replace(resume_uri=prefix.uri, shared_tokens=shared), prefix


def _prefix_fields(prefix: SharedPrefix | None, cfg) -> dict:
    """What a branched trial records of its prefix (nothing for a trial without one)."""
    if prefix is None:
        return {}
    return {
        "prefix_key": prefix.key,
        "shared_tokens": cfg.shared_tokens,
        "prefix_wait_seconds": round(prefix.waited_s, 2),
    }


def _description(trial_id, config, mixture, training, seed, data_uri, manifest, cfg) -> dict:
    """trial.json: what the trial is (config, mixture, knobs, seed, data, init, versions)."""
    return {
        "trial_id": trial_id,
        "config": config,
        "mixture": mixture.to_dict(),
        "mixture_id": mixture.id,
        "training": training.__dict__,
        "seed": seed,
        "data": {
            "uri": data_uri,
            "key": manifest.key,
            "tokenizer_sha256": manifest.tokenizer_sha256,
        },
        "init": {"name": training.init, "uri": cfg.init_uri},
        "versions": versions(),
    }


def _train(cfg, run: RunLayout, trial_id: str, space: SearchSpace, plan, max_failures: int):
    """Ray Train fit of the trial's loop; its reports reach Tune (ASHA) as they happen."""
    # Lets the Ray dashboard list each trial's Train run (/api/train/v2/runs, the Train tab).
    os.environ.setdefault("RAY_TRAIN_ENABLE_STATE_TRACKING", "1")
    storage = run.train.uri if not run.train.is_local else run.train.local_path()
    return make_trainer(
        cfg,
        plan,
        f"train-{trial_id}",
        storage,
        max_failures=max_failures,
        keep_checkpoints=max(2, space.evaluation.noise_checkpoints),
        callbacks=[TuneReportCallback()],
    ).fit()


def _finished_as(result: dict, mixture_id: str) -> bool:
    report = TrialReport.of(result)
    return report.status is TrialStatus.FINISHED and report.mixture_id == mixture_id


def _saved_result(run: RunLayout, trial, trial_id: str, seed: int, mixture_id: str) -> dict | None:
    """A finished result this trial need not retrain for, or None.

    - Its own result.json: the driver died between this trial's end and Tune's next experiment
      checkpoint, and the resumed search started it again.
    - A twin's: the same mixture with the same knobs was trained already in this run (samplers
      repeat points, above all on categorical grids); the seed is the same, so retraining would
      reproduce its curve. Its result is reported for no training tokens.
    """
    if trial.folder.exists(TrialLayout.RESULT):
        saved = trial.folder.read_json(TrialLayout.RESULT)
        if _finished_as(saved, mixture_id):
            return {**saved, "from_storage": 1}
    if run.by_seed.exists(f"{seed}.json"):
        twin = run.by_seed.read_json(f"{seed}.json")["trial_id"]
        saved = run.trial(twin).folder.read_json(TrialLayout.RESULT)
        if _finished_as(saved, mixture_id):
            trial.folder.write_json(TrialLayout.TRIAL, {"trial_id": trial_id, "reused_from": twin})
            return {
                **saved,
                "trial_id": trial_id,
                "reused_from": twin,
                "train_seconds": 0.0,
                "eval_seconds": 0.0,
            }
    return None


def _knobs(training) -> list:
    """What seeds a trial besides its mixture: its training knobs (a seed replica's offset only
    when set, so trials without one keep the seeds they had before the knob existed)."""
    return sorted(
        (k, v) for k, v in training.__dict__.items() if not (k == "seed_offset" and v == 0)
    )


def _rung_pairs(space: SearchSpace, data_uri: str, manifest: DataManifest) -> dict:

    eval_dir = os.path.join(materialize(data_uri, manifest), DatasetLayout.EVAL)
    pairs = rung_pairs(space.objectives, suite_for(space.evaluation), eval_dir)
    return {k: [list(p) for p in v] for k, v in pairs.items()}
