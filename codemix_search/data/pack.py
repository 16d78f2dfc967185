"""Tokenizer training and packing of documents into token shards (plain Python + numpy).

Shards themselves are written by data/build.py (one ``.npy`` of token ids per source and split,
uint16 when the vocabulary fits, else uint32, documents joined by the end-of-text token).
"""

from __future__ import annotations

import hashlib
import os

import numpy as np

EOS = "<|endoftext|>"
PAD = "<|pad|>"


def train_tokenizer(samples: dict[str, list[str]], vocab_size: int, out_dir: str):
    """Byte-level BPE trained on per-source samples of the train splits, saved as a
    transformers tokenizer (so lm-eval's HFLM can load it)."""
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
        for source in sorted(samples):
            yield from samples[source]

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
