"""What the CPU benchmarks share: the demo space, its dataset (built offline, cached) and the
loop config of one balanced mixture (50% code, 20% of it in the cooldown)."""

from __future__ import annotations

import os
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
SHARES = {
    "code_fraction": 0.5,
    "synthetic_share": 0.1,
    "commit_share": 0.1,
    "cooldown_code_fraction": 0.2,
    "init": "scratch",
}


def demo_setup(prefix: str, space_name: str = "demo"):
    """(space, data, store folder, loop config) for the demo space (``tiny``: the smoke size of
    a benchmark, CI), offline."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    from codemix_search.config.load import load_space
    from codemix_search.data.build import prepare_space_data
    from codemix_search.demo.make_sources import space_sources
    from codemix_search.storage.folder import Folder
    from codemix_search.train.loop_config import loop_config

    space = load_space(os.path.join(ROOT, "search_spaces", f"{space_name}.yaml"))
    store = tempfile.mkdtemp(prefix=prefix)
    data = prepare_space_data(space, *space_sources(space), Folder(store), engine="local")
    return space, data, store, loop_config(space, SHARES, data.uri, data.manifest, seed=0)


def train_and_keep(cfg, store: str):
    """Train ``cfg`` with the Ray-free loop; return (the final checkpoint's folder, the last
    report, training seconds)."""
    import shutil
    import time

    from codemix_search.train.loop import train

    keep = os.path.join(store, "trained")

    def report(metrics, checkpoint_dir=None):
        if checkpoint_dir and metrics["step"] == cfg.steps:
            shutil.copytree(checkpoint_dir, keep, dirs_exist_ok=True)

    t0 = time.time()
    last = train(cfg, report=report)
    return keep, last, time.time() - t0
