"""Shared continued pretraining: cooldowns branched from one cached pretraining prefix.

In the paper's protocol every cooldown variant of the same (init, pretraining mixture, training
knobs) repeats the same continued pretraining. Here a trial whose space branches cooldowns
(``branching.cooldowns``) first makes sure that prefix exists in ``<storage>/_prefixes/<key>/``
(trained once by one trial, under a lock, the others waiting; reused by later runs on the same
storage), then trains only its cooldown from the prefix's checkpoint. On the 5 x 3 x 2 bench grid
that trains every point to the end for 10 prefixes + 30 cooldowns instead of 30 whole runs: 53%
fewer tokens.

The prefix is seeded by what it is (not by the trial), and prefix and branches validate on every
source, so a branch's curve is the prefix's reports followed by its own: the same curve whether
the trial trained the prefix or found it cached. Ray appears only in the ``train`` callable the
trial driver passes in.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from codemix_search.core.seeds import derive_seed
from codemix_search.errors import ConfigError
from codemix_search.storage.folder import Folder
from codemix_search.storage.layout import TrialLayout
from codemix_search.storage.lock import RunLock
from codemix_search.train.checkpoint import copy_files
from codemix_search.train.loop_config import LoopConfig

log = logging.getLogger(__name__)
PREFIX_VERSION = 1
PREFIXES = "_prefixes"
PREFIX_JSON = "prefix.json"
# Knobs that change neither a prefix's weights nor its reports: resources, how often it
# checkpoints, retries; ``tokens`` is in ``steps``, ``init`` in the init's folder.
NOT_IN_PREFIX_KEY = frozenset(
    {"workers", "cpus_per_worker", "use_gpu", "dist_backend", "compile", "checkpoint_every",
     "max_failures", "tokens", "init_tokens", "init"}
)  # fmt: skip
# How often a waiting trial looks again (a tiny prefix trains in ~20 s, the demo's in ~60 s).
POLL_S = 2.0


def prefix_identity(cfg: LoopConfig) -> dict:
    """What the pretraining prefix of ``cfg`` is: the knobs that shape it (the seed offset of a
    seed replica included: seed noise includes the pretraining's), the schedule's length, the
    pretraining mixture, the init's folder, and what its reports measure."""
    knobs = {
        k: v for k, v in dataclasses.asdict(cfg.training).items() if k not in NOT_IN_PREFIX_KEY
    }
    pairs = json.dumps(cfg.rung_pairs, sort_keys=True).encode()
    return {
        "knobs": knobs,
        "steps": cfg.steps,
        "pretrain": dict(sorted(cfg.mixture["pretrain"].items())),
        "init": cfg.init_uri,
        "val_sources": cfg.val_sources,
        "rung_pairs": hashlib.sha256(pairs).hexdigest()[:12] if cfg.rung_pairs else None,
        "noise_points": cfg.noise_points,
    }


def branch_config(cfg: LoopConfig, space_seed: int) -> LoopConfig:
    """The trial's loop config as a branch: validating on every source of the dataset and its
    pretraining seeded by the prefix's identity (so all its branches share one pretraining)."""
    cfg = cfg.replace(val_sources=list(cfg.manifest.source_names))
    ident = json.dumps(prefix_identity(cfg), sort_keys=True)
    return cfg.replace(pretrain_seed=derive_seed(space_seed, "prefix", ident))


def prefix_key(cfg: LoopConfig) -> str:
    """The cache key of a branch's prefix: its identity, seed, data and tokenizer."""
    ident = prefix_identity(cfg) | {
        "seed": cfg.seed_of_pretraining,
        "data": cfg.manifest.key,
        "tokenizer": cfg.manifest.tokenizer_sha256,
        "version": PREFIX_VERSION,
    }
    digest = hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:16]
    return f"{cfg.training.model}-{digest}"


def prefix_loop_config(cfg: LoopConfig) -> LoopConfig:
    """The loop config that trains the prefix alone: the pretraining steps, stopping where the
    cooldown starts (the cooldown mixture given is the pretraining's: it is never reached)."""
    pretrain = dict(cfg.mixture["pretrain"])
    return cfg.replace(
        stop_step=cfg.schedule.cooldown_start,
        mixture={"pretrain": pretrain, "cooldown": pretrain, "shares": {"prefix": prefix_key(cfg)}},
        resume_uri=None,
        shared_tokens=0,
    )


@dataclass(frozen=True)
class SharedPrefix:
    key: str
    uri: str
    """The prefix's folder: the loop checkpoint (model, optimizer, state) a branch resumes."""
    tokens: int
    """Training tokens of the prefix (its steps x tokens per step)."""
    trained_here: bool
    """Whether this call trained it (else it was cached, or trained by a trial it waited for)."""
    curve: list[dict]
    """The prefix's reports, in order: replayed to the scheduler by every branch."""
    seconds: float
    """Training seconds spent here (0 when cached)."""
    waited_s: float


def _ready(folder: Folder) -> bool:
    return folder.is_complete() and folder.exists("model.safetensors")


def _read(folder: Folder, key: str, trained_here: bool, seconds: float, waited: float):
    made = folder.read_json(PREFIX_JSON)
    rows = [json.loads(x) for x in folder.read_text(TrialLayout.CURVE).splitlines() if x.strip()]
    return SharedPrefix(key, folder.uri, int(made["tokens"]), trained_here, rows, seconds, waited)


def ensure_prefix(
    storage: Folder,
    cfg: LoopConfig,
    train: Callable[[LoopConfig, Folder], tuple[str, list[dict]]],
    made_by: str,
    timeout_s: float = 24 * 3600.0,
) -> SharedPrefix:
    """The shared prefix of branch ``cfg``, trained here if no one has. ``train(prefix_cfg,
    scratch)`` trains it and returns (its final checkpoint's folder URI, its reports). One
    trial holds ``<prefix>/run.lock`` while it trains (its heartbeat proves it alive); the
    others wait for ``_SUCCESS``, and take over when the holder died."""
    key = prefix_key(cfg)
    folder = storage.child(PREFIXES, key)
    t0 = time.time()
    while not _ready(folder):
        try:
            lock = RunLock(folder).acquire()
        except ConfigError:  # alive and training it: wait for it (or for it to die)
            if time.time() - t0 > timeout_s:
                raise ConfigError(
                    folder.uri, "run.lock", "waited too long for this prefix"
                ) from None
            time.sleep(POLL_S)
            continue
        try:
            if _ready(folder):  # trained while we took the lock
                break
            pcfg = prefix_loop_config(cfg)
            log.info("training shared prefix %s (%d steps, once)", key, pcfg.stop_step)
            started = time.time()
            checkpoint, curve = train(pcfg, storage.child(PREFIXES, "_train", key))
            _publish(folder, Folder(checkpoint), curve, cfg, pcfg, made_by, key)
            return _read(folder, key, True, time.time() - started, started - t0)
        finally:
            lock.release()
    return _read(folder, key, False, 0.0, time.time() - t0)


def _publish(folder: Folder, checkpoint: Folder, curve, cfg, pcfg, made_by: str, key: str):
    """Copy the checkpoint in, then the reports and how it was made, then ``_SUCCESS``."""
    files = [n for n in checkpoint.listdir() if not n.startswith((".", "_"))]
    if "model.safetensors" not in files:
        raise ConfigError(
            checkpoint.uri, "model.safetensors", "the prefix's checkpoint has no weights"
        )
    copy_files(checkpoint, folder, files)
    folder.write_text(TrialLayout.CURVE, "".join(json.dumps(r) + "\n" for r in curve))
    folder.write_json(
        PREFIX_JSON,
        {
            "key": key,
            "identity": prefix_identity(cfg),
            "seed": cfg.seed_of_pretraining,
            "steps": pcfg.stop_step,
            "tokens": pcfg.stop_step * cfg.tokens_per_step,
            "data": cfg.data_uri,
            "made_by": made_by,
        },
    )
    folder.mark_success({"key": key})
