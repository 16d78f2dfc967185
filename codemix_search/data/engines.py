"""Where the build's read and tokenize stages run: in this process (``local``) or on Ray Data
(``ray``: one read task per file, ``map_batches`` over documents, order preserved so the shards
are byte-identical to the local engine's). The only Ray in data/."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from codemix_search.config.sources import SourcesConfig
from codemix_search.data.stages import contaminated, read_rows, tokenize_texts


# -- engines -----------------------------------------------------------------------------------
def _file_items(cfg: SourcesConfig, files: dict[str, list[str]]) -> list[dict]:
    return [
        {"source": s.name, "path": p, "file_index": i}
        for s in cfg.sources
        for i, p in enumerate(files[s.name])
    ]


def _local_rows(cfg: SourcesConfig, files: dict[str, list[str]]) -> Iterator[dict]:
    specs = cfg.by_name()
    for item in _file_items(cfg, files):
        yield from read_rows(
            specs[item["source"]], item["path"], item["file_index"], cfg.validation_share, cfg.file
        )


class Engine:
    """Two passes over the documents: a sample for the tokenizer, then tokenized rows in order."""

    def __init__(self, cfg: SourcesConfig, files: dict[str, list[str]], engine: str):
        self.cfg, self.files, self.engine = cfg, files, engine
        self._ds = None

    def rows(self) -> Iterable[dict]:
        if self.engine == "local":
            return _local_rows(self.cfg, self.files)
        return self._ray_docs().iter_rows()

    def tokenized(self, tokenizer_json: str, eos_id: int, eval_ngrams: dict):
        """Batches of (source, split, digest, contaminated, ids) in document order."""
        if self.engine == "local":
            batch: list[dict] = []
            for row in _local_rows(self.cfg, self.files):
                batch.append(row)
                if len(batch) == 256:
                    yield _tokenize_batch(batch, tokenizer_json, eos_id, eval_ngrams)
                    batch = []
            if batch:
                yield _tokenize_batch(batch, tokenizer_json, eos_id, eval_ngrams)
            return
        ds = self._ray_docs().map_batches(
            _ray_tokenize,
            batch_size=256,
            batch_format="pyarrow",
            fn_kwargs={
                "tokenizer_json": tokenizer_json,
                "eos_id": eos_id,
                "eval_ngrams": eval_ngrams,
            },
        )
        for table in ds.iter_batches(batch_size=None, batch_format="pyarrow"):
            yield _rows_from_table(table)

    def _ray_docs(self):
        if self._ds is not None:
            return self._ds
        # imported here, not at the top: Ray: 0.5 s (Tune, Train: 1.5-2.5 s); not needed offline
        import ray
        import ray.data

        ctx = ray.data.DataContext.get_current()
        ctx.execution_options.preserve_order = True  # byte-identical shards, run after run
        ctx.enable_progress_bars = False
        items = _file_items(self.cfg, self.files)
        remote_args = {}
        local = any("://" not in s.uri or s.uri.startswith("file://") for s in self.cfg.sources)
        if local and len([n for n in ray.nodes() if n.get("Alive")]) > 1:
            # Local paths exist on this node only: read them here.
            from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

            node = ray.get_runtime_context().get_node_id()
            remote_args["scheduling_strategy"] = NodeAffinitySchedulingStrategy(node, soft=False)
        ds = ray.data.from_items(items, override_num_blocks=max(1, len(items)))
        ds = ds.flat_map(
            _ray_read,
            fn_kwargs={
                "specs": self.cfg.by_name(),
                "validation_share": self.cfg.validation_share,
                "file": self.cfg.file,
            },
            **remote_args,
        )
        self._ds = ds.materialize()
        return self._ds


def _ray_read(item: dict, specs: dict, validation_share: float, file: str) -> list[dict]:
    return list(
        read_rows(specs[item["source"]], item["path"], item["file_index"], validation_share, file)
    )


def _tokenize_batch(rows: list[dict], tokenizer_json, eos_id, eval_ngrams) -> list[tuple]:
    ids = tokenize_texts(tokenizer_json, [r["text"] for r in rows], eos_id)
    return [
        (r["source"], r["split"], bytes(r["digest"]), contaminated(r["text"], eval_ngrams), i)
        for r, i in zip(rows, ids, strict=True)
    ]


def _ray_tokenize(table, tokenizer_json: str, eos_id: int, eval_ngrams: dict):
    # imported here, not at the top: pyarrow: only for Parquet and Ray Data blocks
    import pyarrow as pa

    rows = table.to_pylist()
    out = _tokenize_batch(rows, tokenizer_json, eos_id, eval_ngrams)
    return pa.table(
        {
            "source": [o[0] for o in out],
            "split": [o[1] for o in out],
            "digest": pa.array([o[2] for o in out], type=pa.binary()),
            "contaminated": [o[3] for o in out],
            "ids": pa.array([o[4] for o in out], type=pa.list_(pa.int32())),
        }
    )


def _rows_from_table(table) -> list[tuple]:
    cols = table.to_pydict() if table.num_rows else {}
    if not cols:
        return []
    ids = table.column("ids").combine_chunks()
    offsets = ids.offsets.to_numpy()
    values = ids.values.to_numpy()
    return [
        (
            cols["source"][i],
            cols["split"][i],
            cols["digest"][i],
            cols["contaminated"][i],
            values[offsets[i] : offsets[i + 1]],
        )
        for i in range(table.num_rows)
    ]
