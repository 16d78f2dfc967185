"""One trial = a Tune function (the driver) that runs a Ray Train V2 TorchTrainer, then lm-eval.

The TorchTrainer's reports reach Tune through ``TuneReportCallback``, so ASHA sees validation loss
as training goes and can stop the trial. A trial that finishes training is scored with lm-eval and
reports once more with the objectives and ``evaluated=1``; only such trials are "finished". The
trial folder describes itself: resolved config, mixture (with the shares it came from), data
manifest hash and package versions.
"""

from __future__ import annotations

import os
import time

from ray import tune
from ray.train import CheckpointConfig, FailureConfig, RunConfig, ScalingConfig
from ray.train.torch import TorchTrainer
from ray.tune.integration.ray_train import TuneReportCallback

from codemix_search.plan import ResourcePlan
from codemix_search.seeds import derive_seed
from codemix_search.space import SearchSpace
from codemix_search.storage import Folder
from codemix_search.train_loop import init_uri_for, loop_config, train_loop_per_worker


def versions() -> dict:
    import importlib.metadata as md

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
    manifest: dict,
    run_uri: str,
    plan: ResourcePlan,
    inits: dict[str, str] | None = None,
) -> None:
    import torch

    from codemix_search.evaluate.harness import evaluate
    from codemix_search.evaluate.suites import suite_for

    torch.set_num_threads(1)
    ctx = tune.get_context()
    trial_id = ctx.get_trial_id()
    run = Folder(run_uri)
    trial_folder = run.child("trials", trial_id)
    mixture = space.mixture(config)
    # Seeded by what the trial IS (study seed + mixture + knobs), not by Tune's random trial id:
    # the same mixture retrains to the same curve, in this run or a replay.
    seed = derive_seed(
        space.seed, "trial", mixture.id, sorted(space.training_for(config).__dict__.items())
    )
    training = space.training_for(config)
    if trial_folder.exists("result.json"):
        # Resumed after the driver died between this trial's end and Tune's next experiment
        # checkpoint: its result is already in storage, so it is reported, not retrained.
        saved = trial_folder.read_json("result.json")
        if saved.get("status") == "finished" and saved.get("mixture_id") == mixture.id:
            tune.report({**saved, "from_storage": 1})
            return
    twins = run.child("by_seed")
    if twins.exists(f"{seed}.json"):
        # The same mixture with the same knobs was trained already in this run (samplers repeat
        # points, above all on categorical grids): its seed is the same, so retraining would
        # reproduce its curve. Its result is reported instead, for no training tokens.
        twin = twins.read_json(f"{seed}.json")["trial_id"]
        saved = run.child("trials", twin).read_json("result.json")
        if saved.get("status") == "finished" and saved.get("mixture_id") == mixture.id:
            trial_folder.write_json("trial.json", {"trial_id": trial_id, "reused_from": twin})
            tune.report(
                {
                    **saved,
                    "trial_id": trial_id,
                    "reused_from": twin,
                    "train_seconds": 0.0,
                    "eval_seconds": 0.0,
                }
            )
            return
    trial_folder.write_json(
        "trial.json",
        {
            "trial_id": trial_id,
            "config": config,
            "mixture": mixture.to_dict(),
            "mixture_id": mixture.id,
            "training": training.__dict__,
            "seed": seed,
            "data": {
                "uri": data_uri,
                "key": manifest.get("key"),
                "tokenizer_sha256": manifest["tokenizer_sha256"],
            },
            "init": {"name": training.init, "uri": init_uri_for(training.init, inits)},
            "versions": versions(),
        },
    )
    # Lets the Ray dashboard list each trial's Train run (/api/train/v2/runs, the Train tab).
    os.environ.setdefault("RAY_TRAIN_ENABLE_STATE_TRACKING", "1")
    t0 = time.time()
    trainer = TorchTrainer(
        train_loop_per_worker,
        train_loop_config={
            **loop_config(space, config, data_uri, manifest, seed, inits),
            "curve_folder": trial_folder.uri,
        },
        scaling_config=ScalingConfig(
            num_workers=plan.workers, use_gpu=plan.use_gpu, resources_per_worker=dict(plan.worker)
        ),
        torch_config=plan.torch_config(),
        run_config=RunConfig(
            name=f"train-{trial_id}",
            storage_path=run.child("train").uri
            if not run.is_local
            else run.child("train").local_path(),
            callbacks=[TuneReportCallback()],
            # A killed worker (OOM, preemption) restarts from the last checkpoint.
            failure_config=FailureConfig(max_failures=training.max_failures),
            checkpoint_config=CheckpointConfig(num_to_keep=2),
        ),
    )
    result = trainer.fit()
    train_seconds = time.time() - t0
    last = dict(result.metrics or {})
    if last.get("diverged"):
        tune.report({**last, "status": "diverged", "evaluated": 0, "train_seconds": train_seconds})
        return
    if result.checkpoint is None:
        raise RuntimeError(f"trial {trial_id}: training ended without a final checkpoint")

    from transformers import AutoModelForCausalLM, PreTrainedTokenizerFast

    from codemix_search.data.build import materialize

    local = materialize(data_uri, manifest)
    tokenizer = PreTrainedTokenizerFast.from_pretrained(os.path.join(local, "tokenizer"))
    with result.checkpoint.as_directory() as ckpt_dir:
        model = AutoModelForCausalLM.from_pretrained(ckpt_dir)
    model.eval()
    suite = suite_for(space.evaluation)
    scores = evaluate(
        model,
        tokenizer,
        suite,
        os.path.join(local, "eval") if suite.local else None,
        space.evaluation.limit,
        space.evaluation.batch_size,
        generative_prompts=space.evaluation.generative_prompts,
        task_limits=dict(space.evaluation.task_limits),
    )
    categories = suite.category_scores(scores)
    flat = {
        f"{task}/{metric}": value
        for task, metrics in scores.items()
        if not task.startswith("_")
        for metric, value in metrics.items()
        if metric != "sample_len"
    }
    flat.update({f"category/{k}": v for k, v in categories.items()})
    objectives = {o.name: flat[o.key] for o in space.objectives}
    # Generations are kept for the judged win-rate against the baseline (after the search).
    trial_folder.write_json("generations.json", scores["_generations"])
    final = {
        **last,
        **objectives,
        **flat,
        "evaluated": 1,
        "status": "finished",
        "baseline": int(space.is_baseline(config)),
        "seed": seed,
        "mixture_id": mixture.id,
        "train_seconds": train_seconds,
        "eval_seconds": scores["_eval_seconds"],
        "checkpoint_uri": result.checkpoint.path,
    }
    trial_folder.write_json(
        "result.json", {k: v for k, v in final.items() if not isinstance(v, dict)}
    )
    twins.write_json(f"{seed}.json", {"trial_id": trial_id, "mixture_id": mixture.id})
    tune.report(final)
