"""Tokenizer training and packing of documents into token shards (plain Python + numpy).

A shard is one ``.npy`` array of token ids (uint16 when the vocabulary fits, else uint32) holding a
source split's documents joined by the end-of-text token; it is memory-mappable. The manifest lists
per source and split the documents, tokens, file and sha256, plus the tokenizer's hash.
"""

from __future__ import annotations

import hashlib
import io
import os

import numpy as np

EOS = "<|endoftext|>"
PAD = "<|pad|>"


def train_tokenizer(corpora: dict[str, dict[str, list[str]]], vocab_size: int, out_dir: str):
    """Byte-level BPE trained on the train splits, saved as a transformers tokenizer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[EOS, PAD],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )

    def docs():
        # Each source contributes equally, so the vocabulary is not all one kind of data.
        for source in sorted(corpora):
            total = 0
            for d in corpora[source]["train"]:
                yield d
                total += len(d)
                if total > 300_000:
                    break

    tok.train_from_iterator(docs(), trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token=EOS, bos_token=EOS, unk_token=EOS, pad_token=PAD
    )
    fast.model_max_length = 1 << 20
    fast.save_pretrained(out_dir)
    return fast


def tokenizer_hash(tokenizer_dir: str) -> str:
    with open(os.path.join(tokenizer_dir, "tokenizer.json"), "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def dtype_for(vocab_size: int):
    return np.uint16 if vocab_size <= 65535 else np.uint32


def tokenize_documents(tokenizer, docs: list[str]) -> np.ndarray:
    eos = tokenizer.convert_tokens_to_ids(EOS)
    ids: list[int] = []
    batch = 256
    for i in range(0, len(docs), batch):
        for enc in tokenizer(docs[i : i + batch], add_special_tokens=False)["input_ids"]:
            ids.extend(enc)
            ids.append(eos)
    return np.asarray(ids, dtype=dtype_for(len(tokenizer)))


def array_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    return buf.getvalue()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
