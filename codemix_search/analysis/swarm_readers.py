"""Readers of swarms (analysis/swarm.py has the record): RegMix's two-file layout and folders of
such pairs, one prefixed table (CSV, JSONL, parquet) with an optional size column, and our own
run folders. Every bad input is one ``ConfigError`` naming the file, the column and the fix."""

from __future__ import annotations

import dataclasses
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from codemix_search.analysis.swarm import Block, Swarm, check, concat
from codemix_search.core.mixture import PHASES
from codemix_search.errors import ConfigError
from codemix_search.export.recipes import load_run
from codemix_search.storage.folder import Folder
from codemix_search.storage.layout import RunLayout

REGMIX_PAIR = re.compile(r"^(?P<split>.+?)_mixture_(?P<size>[^_]+)\.csv$")


def _read_frame(path: str):
    # imported here, not at the top: pandas: 0.3 s
    import pandas as pd

    try:
        with Folder(os.path.dirname(path) or ".").fs.open(path, "rb") as f:
            if path.endswith(".parquet"):
                return pd.read_parquet(f)
            if path.endswith((".jsonl", ".json")):
                return pd.read_json(f, lines=path.endswith(".jsonl"))
            return pd.read_csv(f)
    except FileNotFoundError:
        raise ConfigError(path, "", "not found: give a CSV, JSONL or parquet table") from None
    except (ValueError, UnicodeDecodeError, OSError) as e:
        msg = " ".join(str(e).split())[:160]
        raise ConfigError(path, "", f"cannot be read as a table ({msg})") from None


def _numeric(frame, cols: list[str], where: str) -> np.ndarray:
    try:
        return frame[cols].to_numpy(dtype=float)
    except (ValueError, TypeError):
        for c in cols:
            try:
                frame[c].to_numpy(dtype=float)
            except (ValueError, TypeError):
                raise ConfigError(where, c, "holds values that are not numbers") from None
        raise


def _strip(cols: Sequence[str], prefix: str) -> tuple[str, ...]:
    return tuple(c[len(prefix) :] for c in cols)


def read_regmix_pair(mixtures: str, metrics: str, size: str = "", split: str = "") -> Swarm:
    """RegMix's layout: mixtures CSV (``index`` + one column a domain) and metrics CSV
    (``index`` + one column a metric), joined on ``index``."""
    mix, met = _read_frame(mixtures), _read_frame(metrics)
    for path, frame in ((mixtures, mix), (metrics, met)):
        if "index" not in frame.columns:
            raise ConfigError(path, "index", "missing: both files need an index column to join on")
    joined = mix.merge(met, on="index", how="inner", suffixes=("", "__metric"))
    if len(joined) < len(mix):
        missing = sorted(set(mix["index"]) - set(met["index"]))[:3]
        raise ConfigError(metrics, "index", f"no row for mixture(s) {missing}: the files differ")
    wcols = [c for c in mix.columns if c != "index"]
    mcols = [c for c in met.columns if c != "index"]
    prefix = os.path.commonprefix(wcols) if len(wcols) > 1 else ""
    prefix = prefix[: prefix.rfind("_") + 1] if prefix else ""
    tag = split or os.path.basename(mixtures).removesuffix(".csv")
    swarm = Swarm(
        columns=_strip(wcols, prefix),
        blocks=(Block("mixture", tuple(range(len(wcols)))),),
        weights=_numeric(joined, wcols, mixtures),
        metrics={
            _metric_name(c): joined[c + ("__metric" if c in wcols else "")].to_numpy(float)
            for c in mcols
        },
        sizes=(size,) * len(joined),
        ids=tuple(f"{tag}:{i}" for i in joined["index"]),
        origin=mixtures,
    )
    return check(swarm, mixtures)


def _metric_name(col: str) -> str:
    """RegMix's ``metric/the_pile_arxiv_val_loss`` -> ``arxiv_val_loss``; other names kept."""
    return re.sub(r"^metric/(the_pile_)?", "", col)


def read_regmix_folder(folder: str) -> Swarm:
    names = sorted(Folder(folder).listdir())
    pairs = []
    for n in names:
        m = REGMIX_PAIR.match(n)
        if not m:
            continue
        split, size = m["split"], m["size"]
        partners = [
            o
            for o in names
            if o != n
            and o.startswith(split + "_")
            and o.endswith(f"_{size}.csv")
            and not REGMIX_PAIR.match(o)
        ]
        if len(partners) != 1:
            raise ConfigError(
                os.path.join(folder, n),
                "",
                f"expected one metrics file {split}_*_{size}.csv "
                f"beside it, found {partners or 'none'}",
            )
        pairs.append((os.path.join(folder, n), os.path.join(folder, partners[0]), size, split))
    if not pairs:
        raise ConfigError(folder, "", "no <split>_mixture_<size>.csv files: not a RegMix folder")
    return concat([read_regmix_pair(a, b, size, f"{split}_{size}") for a, b, size, split in pairs])


def read_prefixed(
    path: str, weight_prefix: str, metric_prefix: str, size_column: str | None = None
) -> Swarm:
    """One table: weight columns start with ``weight_prefix``, metric columns with
    ``metric_prefix``; ``size_column`` labels each run's model size."""
    frame = _read_frame(path)
    cols = [str(c) for c in frame.columns]
    wcols = [c for c in cols if c.startswith(weight_prefix)]
    mcols = [c for c in cols if c.startswith(metric_prefix) and c not in wcols]
    if not wcols:
        raise ConfigError(path, "--weight-columns", f"no column starts with {weight_prefix!r}")
    if not mcols:
        raise ConfigError(path, "--metric-columns", f"no column starts with {metric_prefix!r}")
    if size_column and size_column not in cols:
        raise ConfigError(path, "--size-column", f"no column {size_column!r}; columns: {cols}")
    ids = (
        frame["id"].astype(str)
        if "id" in cols
        else [f"{os.path.basename(path)}:{i}" for i in range(len(frame))]
    )
    sizes = frame[size_column].astype(str).tolist() if size_column else [""] * len(frame)
    swarm = Swarm(
        columns=_strip(wcols, weight_prefix),
        blocks=(Block("mixture", tuple(range(len(wcols)))),),
        weights=_numeric(frame, wcols, path),
        metrics=dict(
            zip(_strip(mcols, metric_prefix), _numeric(frame, mcols, path).T, strict=True)
        ),
        sizes=tuple(sizes),
        ids=tuple(ids),
        origin=path,
    )
    return check(swarm, path)


def read_run(uri: str) -> Swarm:
    """A codemix_search run folder: one row per finished trial; columns ``<phase>/<source>``
    (blocks ``pretrain`` and ``cooldown``) and ``init/<base>`` (one-hot) when the init varies."""
    run = Folder(uri)
    records = [r for r in load_run(run) if r.finished and r.mixture and r.objectives]
    space = run.read_yaml(RunLayout.SPACE) or {}
    size = str((space.get("training") or {}).get("model", ""))
    sources = sorted({s for r in records for p in PHASES for s in r.mixture[p]})
    inits = sorted({str(r.config["init"]) for r in records if "init" in r.config})
    columns = [f"{p}/{s}" for p in PHASES for s in sources] + [f"init/{i}" for i in inits]
    rows = []
    for r in records:
        row = [r.mixture[p].get(s, 0.0) for p in PHASES for s in sources]
        rows.append(row + [1.0 if str(r.config.get("init")) == i else 0.0 for i in inits])
    n = len(sources)
    blocks = [Block(p, tuple(range(k * n, (k + 1) * n))) for k, p in enumerate(PHASES)]
    if inits:
        blocks.append(Block("init", tuple(range(2 * n, 2 * n + len(inits))), onehot=True))
    names = sorted({k for r in records for k in r.objectives})
    swarm = Swarm(
        columns=tuple(columns),
        blocks=tuple(blocks),
        weights=np.asarray(rows, float).reshape(len(records), len(columns)),
        metrics={
            k: np.array([r.objectives.get(k, math.nan) for r in records], float) for k in names
        },
        sizes=(size,) * len(records),
        ids=tuple(f"{os.path.basename(uri.rstrip('/'))}:{r.trial_id}" for r in records),
        origin=uri,
    )
    return check(swarm, run.file(RunLayout.RECORDS))


@dataclass(frozen=True)
class SwarmSpec:
    """Where a swarm comes from, as the commands' flags say it."""

    tables: tuple[str, ...]
    mixtures: str | None = None
    weight_columns: str | None = None
    metric_columns: str | None = None
    size_column: str | None = None
    size: str | None = None


def read(spec: SwarmSpec) -> Swarm:
    """Each table by its kind: a run folder (records.jsonl), a RegMix folder, a metrics CSV with
    ``mixtures``, or a prefixed table."""
    if spec.mixtures and len(spec.tables) != 1:
        raise ConfigError("--mixtures", "", "pairs with exactly one metrics table")
    out = []
    for t in spec.tables:
        folder = Folder(t)
        if folder.exists(RunLayout.RECORDS):
            out.append(read_run(t))
        elif spec.mixtures:
            out.append(read_regmix_pair(spec.mixtures, t, spec.size or ""))
        elif folder.fs.isdir(folder.path):
            out.append(read_regmix_folder(t))
        elif spec.weight_columns is None or spec.metric_columns is None:
            raise ConfigError(
                t,
                "",
                "a single table needs --weight-columns PREFIX and --metric-columns PREFIX "
                "(or --mixtures FILE for RegMix's two-file layout)",
            )
        else:
            out.append(read_prefixed(t, spec.weight_columns, spec.metric_columns, spec.size_column))
    swarm = concat(out)
    if spec.size and not spec.mixtures:
        swarm = dataclasses.replace(swarm, sizes=tuple(s or spec.size for s in swarm.sizes))
    return swarm
