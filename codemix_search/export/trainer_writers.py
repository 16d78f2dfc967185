"""Token arrays written the way each trainer stores them: Megatron's indexed dataset
(``.bin/.idx``), OLMo-core's raw headerless arrays, Streaming's MDS shards (pure writers; what
goes in them is export/trainer_data.py's business)."""

from __future__ import annotations

import importlib.machinery
import os
import struct
import sys
import types

import numpy as np

from codemix_search.errors import ConfigError

_MEGATRON_HEADER = b"MMIDIDX\x00\x00"
# Megatron's DType codes (megatron/core/datasets/indexed_dataset.py); the only two we write.
_MEGATRON_DTYPE_CODE = {np.dtype(np.uint16): 8, np.dtype(np.int32): 4}


def document_lengths(tokens: np.ndarray, eos_id: int) -> np.ndarray:
    """Lengths of the documents of a shard (each ends with its end-of-text token; a tail
    without one is a document too)."""
    ends = np.flatnonzero(np.asarray(tokens) == eos_id) + 1
    if ends.size == 0 or ends[-1] != len(tokens):
        ends = np.append(ends, len(tokens))
    return np.diff(np.concatenate([[0], ends])).astype(np.int64)


def megatron_dtype(vocab_size: int) -> np.dtype:
    # Megatron's own choice (DType.optimal_dtype): uint16 below 65,500 ids, else int32.
    return np.dtype(np.uint16 if vocab_size < 65500 else np.int32)


def write_megatron(tokens: np.ndarray, eos_id: int, vocab_size: int, prefix: str) -> int:
    """``prefix.bin`` + ``prefix.idx``, one sequence per document; megatron-core's own builder
    where it is installed, else the same bytes from numpy (tests compare the two byte for
    byte). Returns the number of documents."""
    dtype = megatron_dtype(vocab_size)
    lengths = document_lengths(tokens, eos_id)
    try:
        # imported here, not at the top: torch: 1.4 s to import; optional: the Megatron export's
        # writer
        import torch
        from megatron.core.datasets.indexed_dataset import IndexedDatasetBuilder
    except ImportError:
        _write_megatron_numpy(np.asarray(tokens, dtype=dtype), lengths, prefix)
        return len(lengths)
    builder = IndexedDatasetBuilder(prefix + ".bin", dtype=dtype.type)
    ids = torch.from_numpy(np.asarray(tokens, dtype=np.int64))
    start = 0
    for n in lengths.tolist():  # as tools/preprocess_data.py: one add_document per document
        builder.add_document(ids[start : start + n], [n])
        start += n
    builder.finalize(prefix + ".idx")
    return len(lengths)


def _write_megatron_numpy(tokens: np.ndarray, lengths: np.ndarray, prefix: str) -> None:
    with open(prefix + ".bin", "wb") as f:
        f.write(tokens.tobytes(order="C"))
    pointers = np.concatenate([[0], np.cumsum(lengths)[:-1]]) * tokens.dtype.itemsize
    document_indices = np.arange(len(lengths) + 1, dtype=np.int64)  # one sequence per document
    with open(prefix + ".idx", "wb") as f:
        f.write(_MEGATRON_HEADER)
        f.write(struct.pack("<Q", 1))
        f.write(struct.pack("<B", _MEGATRON_DTYPE_CODE[tokens.dtype]))
        f.write(struct.pack("<Q", len(lengths)))
        f.write(struct.pack("<Q", len(document_indices)))
        f.write(lengths.astype(np.int32).tobytes(order="C"))
        f.write(pointers.astype(np.int64).tobytes(order="C"))
        f.write(document_indices.tobytes(order="C"))


def write_olmo(tokens: np.ndarray, path: str, dtype: np.dtype) -> int:
    """A raw headerless token array (what OLMo-core memory-maps); returns its token count."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    arr = np.asarray(tokens, dtype=dtype)
    arr.tofile(path)
    return int(arr.size)


def streaming_mds_writer():
    """mosaicml-streaming's own MDSWriter. ``import streaming`` also imports its vision
    datasets (torchvision); where torchvision cannot import (a CPU-only machine whose only
    torchvision wheel is a CUDA build), the writer is loaded from ``streaming.base`` alone."""
    try:
        # imported here, not at the top: optional: the mosaic export's writer
        from streaming import MDSWriter

        return MDSWriter
    except ImportError as e:
        # What the failed import left behind goes; the package is found on sys.path afresh.
        for name in [m for m in sys.modules if m == "streaming" or m.startswith("streaming.")]:
            del sys.modules[name]
        spec = importlib.machinery.PathFinder.find_spec("streaming")
        if spec is None:
            raise ConfigError(
                "--format", "", "mosaic needs mosaicml-streaming: pip install mosaicml-streaming"
            ) from None
        if "torchvision" not in str(e):
            raise
    package = types.ModuleType("streaming")
    package.__path__ = list(spec.submodule_search_locations)
    sys.modules["streaming"] = package
    from streaming.base import MDSWriter

    package.MDSWriter = MDSWriter  # what `from streaming import MDSWriter` finds from now on
    return MDSWriter


def write_mds(tokens: np.ndarray, out_dir: str, seq_len: int) -> int:
    """One MDS folder of ``seq_len``-token samples (documents concatenated with their
    end-of-text tokens, as llm-foundry's ``convert_dataset_hf --concat_tokens``), column
    ``tokens: ndarray:int32``; the last partial sample is dropped. Returns the sample count."""
    writer_cls = streaming_mds_writer()
    n = len(tokens) // seq_len
    arr = np.asarray(tokens[: n * seq_len], dtype=np.int32).reshape(n, seq_len)
    with writer_cls(out=out_dir, columns={"tokens": "ndarray:int32"}, compression=None) as out:
        for row in arr:
            out.write({"tokens": row})
    return n
