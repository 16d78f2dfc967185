"""Checks of a run request that need the outside world (the filesystem, storage, the cluster),
made before anything is written or Ray starts where they can be; each failure is one line.

The space itself is checked where it is parsed (config/); these are what a valid space can still
get wrong on this machine: a storage Ray cannot write to, a run folder that is a file, an init
model that is not there, a cluster that can never run a trial.
"""

from __future__ import annotations

import os
import tempfile

from codemix_search.analysis.budget import cost_plan
from codemix_search.config.params import INIT_CHOICES
from codemix_search.config.space import SearchSpace
from codemix_search.data.dataset import DataManifest
from codemix_search.errors import ConfigError
from codemix_search.storage.folder import Folder
from codemix_search.storage.layout import sqlite_path_problem

# Ray Tune and Train write checkpoints and experiment state through pyarrow.fs, which knows
# these schemes (fsspec knows more, e.g. memory://, which no Ray worker process can share).
RAY_SCHEMES = {"file", "s3", "s3a", "gs", "gcs", "abfs", "abfss", "hdfs", "viewfs"}


def check_storage(storage: Folder, flag: str = "--storage", for_ray: bool = True) -> None:
    """Storage a run (``for_ray``) or a command can write to; one line naming ``flag`` if not."""
    uri = storage.uri
    scheme = uri.split("://", 1)[0] if "://" in uri else "file"
    if for_ray and scheme not in RAY_SCHEMES:
        raise ConfigError(
            flag,
            "",
            f"{scheme}:// is not a storage Ray Tune and Train can write to (pyarrow); use a local "
            "path, s3://, gs:// or abfs://",
        )
    if not storage.is_local:
        check_credentials(storage, flag)
        return
    path = storage.local_path()
    problem = sqlite_path_problem(path) if for_ray else None
    if problem:
        raise ConfigError(flag, "", problem)
    if os.path.exists(path) and not os.path.isdir(path):
        raise ConfigError(flag, "", f"{path} is a file, not a folder; give a folder")
    probe_folder(path, flag)


def probe_folder(path: str, flag: str) -> None:
    """Make the folders down to ``path``, write and remove a probe file in it, then remove the
    folders this made: a symlink loop, an over-long name, a file in the way or a read-only
    mount is one line now, not a traceback when the run writes its lock (access() says yes to
    root on a read-only mount, so it is tried, and nothing is left)."""
    if "\x00" in path:
        raise ConfigError(flag, "", "holds a NUL byte; give a plain path")
    missing, existing = [], path
    while not os.path.lexists(existing):
        missing.append(existing)
        existing = os.path.dirname(existing)
    if os.path.islink(existing) and not os.path.exists(existing):
        raise ConfigError(flag, "", f"{existing} is a symlink that leads nowhere (a loop?)")
    if not os.path.isdir(existing):
        raise ConfigError(flag, "", f"{existing} is a file, not a folder; give a folder")
    made = []
    try:
        for folder in reversed(missing):
            os.mkdir(folder)
            made.append(folder)
        fd, probe = tempfile.mkstemp(prefix=".codemix-probe-", dir=path)
        os.close(fd)
        os.remove(probe)
    except OSError as e:
        where = e.filename or path
        raise ConfigError(
            flag, "", f"{where} is not writable ({e.strerror}); give a folder you can write"
        ) from None
    finally:
        for folder in reversed(made):
            try:
                os.rmdir(folder)
            except OSError:
                pass


def check_credentials(storage: Folder, flag: str) -> None:
    """An object store the run cannot even list (no credentials, a refused key): one line now,
    before any work, a dry run included."""
    scheme = storage.uri.split("://", 1)[0]
    if scheme in ("s3", "s3a"):
        # Asked of botocore's chain (environment, profile files, instance role), not of the
        # store: no request leaves the machine for this.
        # imported here, not at the top: only for S3 storage
        import botocore.session
        import fsspec.config

        opts = fsspec.config.conf.get("s3") or {}
        if opts.get("key") or opts.get("anon") or opts.get("profile"):
            return
        if botocore.session.Session().get_credentials() is None:
            raise ConfigError(
                flag,
                "",
                f"{storage.uri}: no S3 credentials found; set them in the environment "
                "(AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or AWS_PROFILE) or an instance role",
            )
        return
    try:
        storage.fs.exists(storage.path)
    except Exception as e:  # noqa: BLE001 - gcsfs / adlfs each raise their own
        name = type(e).__name__
        text = str(e).splitlines()[0][:160] if str(e) else name
        if "Credential" in name or "credential" in text.lower() or isinstance(e, PermissionError):
            raise ConfigError(
                flag,
                "",
                f"{storage.uri}: {text}; set the store's credentials in the environment "
                "(e.g. AWS_ACCESS_KEY_ID / AWS_PROFILE) or an instance role",
            ) from None
        # anything else (an unreachable endpoint) is the storage retry's to report, later


def check_inits(space: SearchSpace) -> None:
    """An init given as a model folder must hold a saved model (else every trial errors)."""
    field = (
        "parameters.init" if any(p.name == "init" for p in space.parameters) else "training.init"
    )
    for init in space.inits:
        if init in INIT_CHOICES:
            continue
        folder = Folder(init)
        if not folder.exists("model.safetensors"):
            raise ConfigError(
                space.source_file,
                field,
                f"{init}: no model.safetensors there; give a saved model folder (a checkpoint "
                f"of a trial, or a base in <storage>/_inits/) or one of {', '.join(INIT_CHOICES)}",
            )


def check_validation_splits(space: SearchSpace, manifest: DataManifest) -> None:
    """A trial's validation loss reads whole sequences of each source's validation split."""
    seq_len = space.training.seq_len
    for name, source in sorted(manifest.sources.items()):
        # (training samples seq_len + 1 tokens: inputs and their next-token labels)
        for split, need in (("val", seq_len), ("train", seq_len + 1)):
            tokens = (source.get("splits", {}).get(split) or {}).get("tokens")
            if tokens is not None and tokens < need:
                raise ConfigError(
                    space.source_file,
                    "training.seq_len",
                    f"{seq_len} is longer than source {name}'s {split} split ({tokens} tokens); "
                    "lower seq_len or give that source more data",
                )


def check_cluster(space: SearchSpace, plan, embedded: bool, resources: dict) -> None:
    """GPU trials on a cluster that has none and cannot get any wait forever: refuse them.
    (A cluster we joined may autoscale GPU nodes in; the one we started cannot.)"""
    if plan.use_gpu and embedded and float(resources.get("GPU", 0)) < 1:
        raise ConfigError(
            space.source_file,
            "training.use_gpu",
            "true, but this machine has no GPU and the embedded cluster cannot add one; use "
            "auto (GPUs when present) or submit to a cluster with GPU nodes",
        )


def check_budget(space: SearchSpace) -> None:
    """A budget that cannot finish one trial, given the plan, is one line before Ray starts
    (it would train the bases, stop the first trials at the budget and finish nothing)."""
    b, t = space.budget, space.training
    searched = {p.name for p in space.parameters}
    if b.max_tokens is not None and "tokens" not in searched and b.max_tokens < t.tokens:
        raise ConfigError(
            space.source_file,
            "budget.max_tokens",
            f"{b.max_tokens:,} tokens cannot finish one trial ({t.tokens:,} tokens each); "
            "raise it to at least that, or leave it out",
        )
    if b.time_budget_s is None:
        return

    try:
        plan = cost_plan(space)
    except ConfigError:
        return  # nothing to plan with (no throughput for this model): Tune's limit applies
    rounds = -(-plan.trials // max(1, plan.concurrency))
    one_trial = (plan.wall_seconds - plan.bases_seconds) / max(1, rounds)
    # the plan is a prediction (the learnt throughput can be 2x off on another load): refuse
    # only a budget under half of what the bases and one trial are predicted to take
    if b.time_budget_s < 0.5 * (plan.bases_seconds + one_trial):
        raise ConfigError(
            space.source_file,
            "budget.time_budget_s",
            f"{b.time_budget_s:g} s cannot finish one trial: the plan predicts "
            f"{plan.bases_seconds:.0f} s for the bases and {one_trial:.0f} s a trial "
            "(`codemix_search plan`); raise it or leave it out",
        )
