"""Ray Train overhead, measured side by side in one run on this machine.

    python benchmarks/train_overhead.py [--model demo] [--steps 200] [--repeats 2]

1. Throughput: the same training loop (codemix_search/train/loop.py, same model, batch, data,
   seed, threads) run bare in this process and inside a Ray Train V2 TorchTrainer with one
   worker; tokens/s is measured by the loop itself over its steps (validation and checkpoint
   saves included on both sides). Target: ray / bare >= 0.95.
2. Start-up: on a warm local cluster (Ray already up), seconds from ``TorchTrainer.fit()`` to the
   end of the first optimizer step (the loop records the wall-clock time of that step), i.e. the
   controller + worker group + process group + data mapping + model build. Target: <= 3 s.
Bare and Ray runs alternate, so drift hits both.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from _demo_setup import demo_setup  # noqa: E402 - the benchmarks folder is on sys.path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="demo")
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--smoke", action="store_true", help="tiny model, 20 steps, once (CI)")
    args = ap.parse_args()
    if args.smoke:
        args.model, args.steps, args.repeats = "tiny", 20, 1
    space, data, store, cfg = demo_setup("cm-bench-", "tiny" if args.smoke else "demo")
    import ray
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    from codemix_search.train.loop import train, train_loop_per_worker

    cfg = cfg.replace(model=args.model, steps=args.steps, cpus_per_worker=1, evals=4)

    ray.init(
        num_cpus=2,
        include_dashboard=False,
        _node_ip_address="127.0.0.1",
        log_to_driver=False,
        configure_logging=False,
    )
    bare, inside, startup, breakdown = [], [], [], []
    for i in range(args.repeats):
        last = train(cfg)
        bare.append(last["tokens_per_s"])
        trainer = TorchTrainer(
            train_loop_per_worker,
            train_loop_config=cfg.to_dict(),
            scaling_config=ScalingConfig(num_workers=1, resources_per_worker={"CPU": 1}),
            run_config=RunConfig(name=f"bench-{i}", storage_path=store),
        )
        t0 = time.time()
        result = trainer.fit()
        inside.append(result.metrics["tokens_per_s"])
        m = result.metrics
        startup.append(m["first_step_time"] - t0)
        breakdown.append(
            {
                "fit_to_worker_entry": round(m["worker_entry_time"] - t0, 2),
                "entry_to_model_ready": round(m["model_ready_time"] - m["worker_entry_time"], 2),
                "model_ready_to_first_step": round(m["first_step_time"] - m["model_ready_time"], 2),
            }
        )
    ray.shutdown()
    out = {
        "model": args.model,
        "steps": args.steps,
        "batch": f"{cfg.training.batch_size} x {cfg.training.seq_len}",
        "bare_tokens_per_s": round(statistics.median(bare)),
        "ray_train_tokens_per_s": round(statistics.median(inside)),
        "ratio_ray_over_bare": round(statistics.median(inside) / statistics.median(bare), 3),
        "fit_to_first_step_s": [round(s, 2) for s in startup],
        "startup_breakdown_s": breakdown,
        "note": "first repeat includes worker-process imports; later ones are warm",
    }
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
