"""The build's pure stages: hash split, n-gram decontamination, reading rows, tokenizing,
streaming shard writing. Plain functions; engines.py decides where they run."""

from __future__ import annotations

import functools
import hashlib
import os
import re
from collections.abc import Iterable, Iterator

import numpy as np

from codemix_search.config.sources import SourceSpec
from codemix_search.data.readers import read_file

NGRAM = 13
"""Decontamination n-gram length in words (GPT-3's and lm-eval's choice)."""


# -- pure stages -------------------------------------------------------------------------------
def doc_hash(doc: str) -> bytes:
    return hashlib.sha256(doc.encode("utf-8", "replace")).digest()


def hash_split(digest: bytes, validation_share: float) -> str:
    """val | train from the document's hash (the same rule as the demo's eval pools)."""
    return "val" if int.from_bytes(digest[:8], "big") / 2**64 < validation_share else "train"


_P = np.uint64(1_000_003)


@functools.lru_cache(maxsize=1 << 20)
def _word_id(word: str) -> int:
    # A stable hash (Python's hash() differs between processes, and Ray tasks are processes).
    return int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "big")


def ngram_hashes(text: str, n: int) -> np.ndarray:
    """64-bit rolling hashes of every window of ``n`` lower-cased words (uint64; may be empty)."""
    words = re.findall(r"\w+", text.lower())
    if len(words) < n:
        return np.empty(0, dtype=np.uint64)
    ids = np.fromiter((_word_id(w) for w in words), dtype=np.uint64, count=len(words))
    m = len(words) - n + 1
    h = np.zeros(m, dtype=np.uint64)
    for j in range(n):  # h = sum ids[i+j] * P^(n-1-j), wrapping mod 2^64
        h = h * _P + ids[j : j + m]
    return h


def eval_index(texts: Iterable[str], n: int = NGRAM) -> dict[int, np.ndarray]:
    """{window length: sorted hashes}: n-grams of each eval text, or the whole text when it has
    fewer than n words (so short eval items are matched too)."""
    by_len: dict[int, list[np.ndarray]] = {}
    for t in texts:
        k = min(n, len(re.findall(r"\w+", t)))
        if k:
            by_len.setdefault(k, []).append(ngram_hashes(t, k))
    return {k: np.unique(np.concatenate(v)) for k, v in by_len.items()}


def contaminated(text: str, index: dict[int, np.ndarray]) -> bool:
    """Whether the document shares a window with any eval text."""
    for k, hashes in index.items():
        h = ngram_hashes(text, k)
        if h.size and np.isin(h, hashes, assume_unique=False).any():
            return True
    return False


def read_rows(
    spec: SourceSpec, path: str, file_index: int, validation_share: float, file: str
) -> Iterator[dict]:
    """Documents of one file with what the later stages need (split, hash)."""
    for i, doc in enumerate(read_file(spec, path, file)):
        digest = doc_hash(doc)
        yield {
            "source": spec.name,
            "file": file_index,
            "doc": i,
            "digest": digest,
            "split": hash_split(digest, validation_share),
            "text": doc,
        }


@functools.lru_cache(maxsize=4)
def _tokenizer(tokenizer_json: str):
    # imported here, not at the top: tokenizers: only where a tokenizer is built
    from tokenizers import Tokenizer

    return Tokenizer.from_str(tokenizer_json)


def tokenize_texts(tokenizer_json: str, texts: list[str], eos_id: int) -> list[np.ndarray]:
    """Token ids of each text, end-of-text appended (int32; packed to uint16/32 later)."""
    tok = _tokenizer(tokenizer_json)
    out = []
    for enc in tok.encode_batch(list(texts), add_special_tokens=False):
        ids = np.empty(len(enc.ids) + 1, dtype=np.int32)
        ids[:-1] = enc.ids
        ids[-1] = eos_id
        out.append(ids)
    return out


class ShardWriter:
    """Appends token arrays to a raw file, then writes the ``.npy`` header in front (streaming:
    a source larger than memory packs fine)."""

    def __init__(self, path: str, dtype):
        self.path, self.dtype = path, np.dtype(dtype)
        self.raw = open(path + ".raw", "wb")  # noqa: SIM115 - closed in finish()
        self.tokens = 0
        self.documents = 0

    def add(self, ids: np.ndarray) -> None:
        self.raw.write(np.asarray(ids, dtype=self.dtype).tobytes())
        self.tokens += len(ids)
        self.documents += 1

    def finish(self) -> dict:
        self.raw.close()
        h = hashlib.sha256()
        with open(self.path, "wb") as out, open(self.path + ".raw", "rb") as raw:
            header = {"descr": np.lib.format.dtype_to_descr(self.dtype), "fortran_order": False}
            header["shape"] = (self.tokens,)
            np.lib.format.write_array_header_1_0(out, header)
            size = out.tell()
            out.flush()
            with open(self.path, "rb") as f:
                h.update(f.read())
            while chunk := raw.read(1 << 22):
                out.write(chunk)
                h.update(chunk)
                size += len(chunk)
        os.remove(self.path + ".raw")
        return {
            "documents": self.documents,
            "tokens": self.tokens,
            "bytes": size,
            "sha256": h.hexdigest(),
            "dtype": str(self.dtype),
        }
