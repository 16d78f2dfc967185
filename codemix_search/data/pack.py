"""Tokenizer training and packing of documents into token shards (plain Python + numpy).

Shards themselves are written by data/build.py (one ``.npy`` of token ids per source and split,
uint16 when the vocabulary fits, else uint32, documents joined by the end-of-text token).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil

import numpy as np

EOS = "<|endoftext|>"
PAD = "<|pad|>"


def train_tokenizer(samples: dict[str, list[str]], vocab_size: int, out_dir: str):
    """Byte-level BPE trained on per-source samples of the train splits, saved as a
    transformers tokenizer (so lm-eval's HFLM can load it)."""
    # imported here, not at the top: tokenizers: only where a tokenizer is built; transformers: 0.7
    # s, more with torch
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
    portable_tokenizer(out_dir, out_dir)
    return fast


# transformers 5 saves a fast tokenizer as "TokenizersBackend", a class 4.x does not have (and
# llm-foundry / Streaming pin transformers<5); "PreTrainedTokenizerFast" loads in both.
PORTABLE_CLASS = "PreTrainedTokenizerFast"


def portable_tokenizer(src_dir: str, dst_dir: str) -> None:
    """Copy a saved tokenizer's files into ``dst_dir`` (which may be ``src_dir``), naming a
    class both transformers 4.x and 5.x load."""
    os.makedirs(dst_dir, exist_ok=True)
    for name in sorted(os.listdir(src_dir)):
        src, dst = os.path.join(src_dir, name), os.path.join(dst_dir, name)
        if name == "tokenizer_config.json":
            with open(src) as f:
                config = json.load(f)
            config["tokenizer_class"] = PORTABLE_CLASS
            with open(dst + ".tmp", "w") as f:
                json.dump(config, f, indent=2, sort_keys=True)
            os.replace(dst + ".tmp", dst)
        elif os.path.isfile(src) and src != dst:
            shutil.copyfile(src, dst)


def tokenizer_hash(tokenizer_dir: str) -> str:
    with open(os.path.join(tokenizer_dir, "tokenizer.json"), "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def dtype_for(vocab_size: int):
    return np.uint16 if vocab_size <= 65535 else np.uint32
