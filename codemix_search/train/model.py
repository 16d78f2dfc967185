"""Named model sizes -> a transformers causal LM with random init (no hub, ever).

Shapes are Llama-style (RMSNorm, SwiGLU, RoPE). ``tiny`` (~0.4M parameters with a 2k vocab) is
for tests; ``demo`` for a laptop; the proxies are for GPU clusters, up to the paper's 470M shape.
"""

from __future__ import annotations

import functools
import os

from codemix_search.core.sizes import SIZES


def model_config(size: str, vocab_size: int, seq_len: int, attn: str = "sdpa"):
    # imported here, not at the top: transformers: 0.7 s, more with torch
    from transformers import LlamaConfig

    if size not in SIZES:
        raise ValueError(f"unknown model size {size!r}; allowed: {', '.join(SIZES)}")
    s = SIZES[size]
    cfg = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=s.hidden,
        num_hidden_layers=s.layers,
        num_attention_heads=s.heads,
        num_key_value_heads=s.heads,
        intermediate_size=s.intermediate,
        # lm-eval needs room for prompt + generation; RoPE has no position weights to grow.
        max_position_embeddings=max(seq_len, 512),
        tie_word_embeddings=True,
        bos_token_id=0,
        eos_token_id=0,
        pad_token_id=1,
    )
    cfg._attn_implementation = attn
    return cfg


def build_model(size: str, vocab_size: int, seq_len: int, seed: int):
    """Random init from a config, seeded so every rank and every rerun starts identical."""
    # imported here, not at the top: torch: 1.4 s to import; transformers: 0.7 s, more with torch
    import torch
    from transformers import LlamaForCausalLM

    torch.manual_seed(seed)
    return LlamaForCausalLM(model_config(size, vocab_size, seq_len))


def n_params(model) -> int:
    return sum(p.numel() for p in model.parameters())


def compile_model(model, cache_dir: str):
    """``torch.compile`` with Inductor's cache in ``cache_dir`` (the node's codemix cache): the
    trials of a node compile a shape once, not once each (~1 min a trial on a GPU), on the
    node's disk rather than in /tmp. Importing transformers' model code already fixed
    TORCHINDUCTOR_CACHE_DIR to torch's default (/tmp/torchinductor_<user>), so a default value
    is replaced; one a user set elsewhere is kept."""
    # imported here, not at the top: torch: 1.4 s to import
    import torch

    try:
        from torch._inductor.runtime.cache_dir_utils import default_cache_dir

        defaults = {None, os.path.abspath(default_cache_dir())}
    except ImportError:  # another torch layout: only an unset variable is ours to set
        defaults = {None}
    if os.environ.get("TORCHINDUCTOR_CACHE_DIR") in defaults:
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = os.path.abspath(cache_dir)
    return torch.compile(model)


def device_and_dtype():
    """(device, autocast dtype): the current CUDA device in bf16, else the CPU in fp32."""
    # imported here, not at the top: torch: 1.4 s to import
    import torch

    # Fake GPU nodes report GPU ids without a GPU: trust torch, not Ray.
    if torch.cuda.is_available():
        return torch.device("cuda", torch.cuda.current_device()), torch.bfloat16
    return torch.device("cpu"), None


@functools.lru_cache(maxsize=4)
def device_name(device: str) -> str:
    # imported here, not at the top: torch: 1.4 s to import
    import torch

    return torch.cuda.get_device_name(device) if device.startswith("cuda") else device
