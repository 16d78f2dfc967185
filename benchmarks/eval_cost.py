"""What measuring noise costs per trial: evaluation time before (accuracy tasks, no per-item
scores) and after (gold BPB + Brier on every task, the code-reference task, per-item scores, the
objectives at k checkpoints on a subset), and the rung scoring inside training, side by side.

    python benchmarks/eval_cost.py [--steps 200] [--limit 200] [--repeats 3]

Trains the demo model once (search_spaces/demo.yaml's knobs, a balanced mixture), then times
each configuration ``--repeats`` times, alternating, on the same model: ratios, not absolute
seconds, are the result (the machine's load moves both).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

from _demo_setup import demo_setup, train_and_keep  # noqa: E402 - the benchmarks folder is on sys.path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--limit", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--smoke", action="store_true", help="tiny data, 10 steps, 8 items (CI)")
    args = ap.parse_args()
    if args.smoke:
        args.steps, args.limit, args.repeats = 10, 8, 1
    space, data, store, cfg = demo_setup("cm-evalcost-", "tiny" if args.smoke else "demo")
    import torch
    from transformers import PreTrainedTokenizerFast

    from codemix_search.core.suites import suite_for
    from codemix_search.data.dataset import materialize
    from codemix_search.evaluate.harness import evaluate
    from codemix_search.evaluate.rung_metric import rung_pairs
    from codemix_search.search.scoring import objective_tasks
    from codemix_search.train.loop_config import report_steps
    from codemix_search.train.rung_scoring import RungScorer

    cfg = cfg.replace(steps=args.steps, cpus_per_worker=2)
    keep, _, train_s = train_and_keep(cfg, store)
    from transformers import AutoModelForCausalLM

    local = materialize(data.uri, data.manifest)
    tok = PreTrainedTokenizerFast.from_pretrained(os.path.join(local, "tokenizer"))
    model = AutoModelForCausalLM.from_pretrained(keep).eval()
    suite = suite_for(space.evaluation)
    eval_dir = os.path.join(local, "eval")
    before_tasks = [t for t in suite.names if t != "demo_code_bpb"]
    noise_tasks = objective_tasks(space, suite)
    k, noise_limit = space.evaluation.noise_checkpoints, space.evaluation.noise_limit
    scorer = RungScorer(
        rung_pairs(space.objectives, suite, eval_dir), tok, max(cfg.training.seq_len, 512)
    )
    torch.set_num_threads(2)
    times: dict[str, list[float]] = {"before": [], "final": [], "noise": [], "rung": []}
    for _ in range(args.repeats):
        t = time.time()
        evaluate(model, tok, suite, eval_dir, args.limit, 32, tasks=before_tasks, log_samples=False)
        times["before"].append(time.time() - t)
        t = time.time()
        evaluate(model, tok, suite, eval_dir, args.limit, 32)
        times["final"].append(time.time() - t)
        t = time.time()
        for _ in range(k):
            evaluate(model, tok, suite, eval_dir, noise_limit, 32, tasks=noise_tasks)
        times["noise"].append(time.time() - t)
        t = time.time()
        scorer.score(model, "cpu")
        times["rung"].append(time.time() - t)
    med = {name: statistics.median(v) for name, v in times.items()}
    reports = len(report_steps(cfg.schedule, cfg.training.evals, cfg.noise_points))
    out = {
        "train_seconds": round(train_s, 1),
        "median_seconds": {k2: round(v, 2) for k2, v in med.items()},
        "spread_seconds": {k2: [round(min(v), 2), round(max(v), 2)] for k2, v in times.items()},
        "eval_after_over_before": round((med["final"] + med["noise"]) / med["before"], 2),
        "rung_scoring_per_trial_over_training": round(med["rung"] * reports / train_s, 3),
        "reports_per_trial": reports,
        "k": k,
        "noise_limit": noise_limit,
        "limit": args.limit,
    }
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
