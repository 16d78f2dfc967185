"""Category scores of a trained demo model vs the same model untrained, and eval time per trial.

    python benchmarks/eval_categories.py [--steps 200] [--limit 200]

Trains the demo model (search_spaces/demo.yaml's knobs, a balanced 50/50 mixture with 20% code in
the cooldown) with the Ray-free loop, then scores both models on the demo suite exactly as a
trial does (lm-eval, limit items per task). Prints per-category scores side by side and the
evaluation wall time (what each finished trial adds).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time

from _demo_setup import demo_setup, train_and_keep  # noqa: E402 - the benchmarks folder is on sys.path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--limit", type=int, default=200)
    ap.add_argument("--smoke", action="store_true", help="tiny data, 10 steps, 8 items (CI)")
    args = ap.parse_args()
    if args.smoke:
        args.steps, args.limit = 10, 8
    space, data, store, cfg = demo_setup("cm-evalbench-", "tiny" if args.smoke else "demo")
    from transformers import AutoModelForCausalLM, PreTrainedTokenizerFast

    from codemix_search.core.suites import DEMO
    from codemix_search.data.dataset import materialize
    from codemix_search.evaluate.harness import evaluate
    from codemix_search.train.model import build_model

    cfg = cfg.replace(steps=args.steps, cpus_per_worker=2)
    keep, last, train_s = train_and_keep(cfg, store)
    local = materialize(data.uri, data.manifest)
    tok = PreTrainedTokenizerFast.from_pretrained(os.path.join(local, "tokenizer"))
    models = {
        "untrained": build_model("demo", data.manifest.vocab_size, cfg.training.seq_len, 0),
        "trained": AutoModelForCausalLM.from_pretrained(keep),
    }
    out = {"train_seconds": round(train_s, 1), "final_val_loss": round(last["val_loss"], 3)}
    for name, model in models.items():
        t0 = time.time()
        scores = evaluate(model.eval(), tok, DEMO, os.path.join(local, "eval"), args.limit, 32)
        out[name] = {
            "eval_seconds": round(time.time() - t0, 1),
            **{k: round(v, 4) for k, v in DEMO.category_scores(scores.tasks).items()},
            "tasks": {
                t.name: round(scores.tasks[t.name][t.metric], 4)
                for t in DEMO.tasks
                if t.name in scores.tasks and t.metric  # a BPB-only task has no accuracy
            },
        }
    print(json.dumps(out, indent=1))
    shutil.rmtree(store, ignore_errors=True)


if __name__ == "__main__":
    main()
