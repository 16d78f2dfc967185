"""Each source's bytes per token under the proxy's tokenizer and a target's, measured on the
run's own built data (the maths is export/units.py).

The proxy tokenizer is byte-level BPE (data/pack.py), so decoding a document's ids gives back
the text it was built from, byte for byte; that text is what a target tokenizer re-encodes. The
sample is up to ``SAMPLE_DOCUMENTS`` documents per source, drawn without replacement with a
fixed seed: on the demo data (189 to 3,666 train documents a source) that is every document,
so the figures are exact (SE 0); on a real corpus the SE says how far a rerun could move them.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from codemix_search.data.dataset import DataManifest, load_split, materialize
from codemix_search.data.pack import portable_tokenizer
from codemix_search.errors import ConfigError
from codemix_search.export.trainer_writers import document_lengths
from codemix_search.export.units import BytesPerToken, bytes_per_token
from codemix_search.storage.layout import DatasetLayout

SAMPLE_DOCUMENTS = 4096
SAMPLE_SEED = 0


@dataclass(frozen=True)
class TargetTokenizer:
    """A transformers tokenizer a lab trains with (fast: it has a ``tokenizer.json``)."""

    name: str
    tokenizer: object  # transformers.PreTrainedTokenizerFast
    eos_id: int
    vocab_size: int

    def encode(self, texts: list[str]) -> list[np.ndarray]:
        """Ids of each text, its end-of-text token appended (as the proxy's shards hold)."""
        out = []
        backend = self.tokenizer.backend_tokenizer  # no max-length warning, batched in Rust
        for i in range(0, len(texts), 256):
            for enc in backend.encode_batch(texts[i : i + 256], add_special_tokens=False):
                out.append(np.asarray([*enc.ids, self.eos_id], dtype=np.int64))
        return out

    def save(self, out_dir: str) -> None:
        """The tokenizer's files, loadable by transformers 4.x and 5.x alike."""
        tmp = out_dir + ".save"
        self.tokenizer.save_pretrained(tmp)
        portable_tokenizer(tmp, out_dir)

        shutil.rmtree(tmp)


def load_target_tokenizer(spec: str) -> TargetTokenizer:
    """``spec``: a folder holding a transformers tokenizer, or a name already in the local
    Hugging Face cache (nothing is downloaded). One line when it cannot be loaded."""
    # imported here, not at the top: transformers: 0.7 s, more with torch
    from transformers import AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    logging.getLogger("transformers").setLevel(logging.ERROR)
    try:
        tok = AutoTokenizer.from_pretrained(spec, local_files_only=True)
    except Exception as e:  # noqa: BLE001 - missing folder, bad JSON, unknown name: one line
        first = (str(e).strip().splitlines() or [e.__class__.__name__])[0][:160]
        raise ConfigError(
            "--tokenizer",
            "",
            f"{spec!r} is not a loadable tokenizer ({first}); give a folder with a "
            "transformers tokenizer (tokenizer.json) or a name already in the local Hugging "
            "Face cache",
        ) from None
    if not getattr(tok, "is_fast", False):
        raise ConfigError(
            "--tokenizer", "", f"{spec!r} has no fast tokenizer (tokenizer.json): convert it first"
        )
    if tok.eos_token_id is None:
        raise ConfigError(
            "--tokenizer",
            "",
            f"{spec!r} has no end-of-text token: trainers split documents on it; set eos_token",
        )
    return TargetTokenizer(os.path.basename(spec.rstrip("/")) or spec, tok, int(tok.eos_token_id),
                           len(tok))  # fmt: skip


@dataclass(frozen=True)
class SourceText:
    """A sample of one source's train documents: proxy token counts and the decoded texts."""

    source: str
    proxy_tokens: np.ndarray  # per document, end-of-text included
    texts: list[str]
    population: int  # train documents of the source
    full: bool  # the sample is every document


def documents(tokens: np.ndarray, eos_id: int) -> list[np.ndarray]:
    """A shard split after each end-of-text token (``document_lengths``: a tail without one
    is a document too)."""
    ends = np.cumsum(document_lengths(tokens, eos_id))[:-1]
    return np.split(np.asarray(tokens), ends)


def sample_sources(data_uri: str, manifest: DataManifest, sources: list[str],
                   sample: int | None = SAMPLE_DOCUMENTS) -> dict[str, SourceText]:  # fmt: skip
    """Each source's sample of train documents (``None``: every one), decoded with the run's
    own tokenizer."""
    # imported here, not at the top: tokenizers: only where a tokenizer is built
    from tokenizers import Tokenizer

    local = materialize(data_uri, manifest)
    proxy = Tokenizer.from_file(os.path.join(local, DatasetLayout.TOKENIZER, "tokenizer.json"))
    eos = int(manifest.eos_id)
    out = {}
    for s in sources:
        docs = documents(load_split(local, manifest, s, "train"), eos)
        pick = range(len(docs))
        if sample is not None and len(docs) > sample:
            rng = np.random.default_rng(SAMPLE_SEED)
            pick = sorted(rng.choice(len(docs), size=sample, replace=False).tolist())
        chosen = [docs[i] for i in pick]
        body = [d[:-1] if len(d) and d[-1] == eos else d for d in chosen]
        texts = proxy.decode_batch([b.tolist() for b in body], skip_special_tokens=False)
        out[s] = SourceText(s, np.asarray([len(d) for d in chosen]), texts, len(docs),
                            len(chosen) == len(docs))  # fmt: skip
    return out


def encode_sources(texts: Mapping[str, SourceText], target: TargetTokenizer
                   ) -> dict[str, list[np.ndarray]]:  # fmt: skip
    """Each source's documents in the target's ids (counted by ``measure``; written by the
    trainer exports: encoded once)."""
    return {s: target.encode(st.texts) for s, st in texts.items()}


def measure(texts: Mapping[str, SourceText], encoded: Mapping[str, list[np.ndarray]] | None = None
            ) -> dict[str, dict[str, BytesPerToken]]:  # fmt: skip
    """Per source, bytes per token under ``proxy`` and (given its ``encoded`` documents) the
    target."""
    out = {}
    for s, st in texts.items():
        nbytes = np.asarray([len(t.encode("utf-8")) for t in st.texts])
        out[s] = {"proxy": bytes_per_token(nbytes, st.proxy_tokens, st.population)}
        if encoded is not None:
            counts = np.asarray([len(ids) for ids in encoded[s]])
            out[s]["target"] = bytes_per_token(nbytes, counts, st.population)
    return out
