"""Run in the consumer venv (megatron-core): build Megatron's own blended GPT dataset from an
exported recipe's arguments, exactly as pretrain_gpt.py's data path does, and print per phase
the share of samples each source supplies (JSON on stdout)."""

import json
import os
import socket
import sys

import numpy as np
import torch
from megatron.core.datasets.blended_megatron_dataset_builder import BlendedMegatronDatasetBuilder
from megatron.core.datasets.gpt_dataset import GPTDataset, GPTDatasetConfig
from megatron.core.datasets.indexed_dataset import IndexedDataset
from megatron.core.datasets.utils import get_blend_from_list
from megatron.core.tokenizers import MegatronTokenizer


def arg(args: list[str], flag: str, many: bool = False):
    i = args.index(flag) + 1
    if not many:
        return args[i]
    j = i
    while j < len(args) and not args[j].startswith("--"):
        j += 1
    return args[i:j]


def read_phase(args: list[str], cache: str) -> dict:
    tokenizer = MegatronTokenizer.from_pretrained(
        tokenizer_path=arg(args, "--tokenizer-model"), metadata_path={"library": "huggingface"}
    )
    config = GPTDatasetConfig(
        random_seed=1234,
        sequence_length=int(arg(args, "--seq-length")),
        blend=get_blend_from_list(arg(args, "--data-path", many=True)),
        split=arg(args, "--split"),
        path_to_cache=cache,
        tokenizer=tokenizer,
        reset_position_ids=False,
        reset_attention_mask=False,
        eod_mask_loss=False,
    )
    samples = int(arg(args, "--train-samples"))
    train, _, _ = BlendedMegatronDatasetBuilder(
        GPTDataset, [samples, 0, 0], lambda: True, config
    ).build()
    if isinstance(train, GPTDataset):  # a one-source blend is the dataset itself
        datasets, index = [train], np.zeros(len(train), dtype=np.int64)
    else:
        datasets, index = train.datasets, np.asarray(train.dataset_index[:samples])
    counts = np.bincount(index, minlength=len(datasets))
    first = train[0]["tokens"].tolist()  # a real batch row, as the trainer would get it
    shares = {}
    for ds, n in zip(datasets, counts, strict=True):
        source = os.path.basename(ds.dataset_path).removesuffix("_text_document")
        shares[source] = float(n / counts.sum())
    return {"samples": int(counts.sum()), "shares": shares, "first_tokens": first[:16]}


def main() -> None:
    config_file, cache = sys.argv[1], sys.argv[2]
    # Megatron builds its index caches on rank 0 of a process group: one process, as
    # `torchrun --nproc-per-node 1 pretrain_gpt.py` would have.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    torch.distributed.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=0, world_size=1
    )
    with open(config_file) as f:
        exported = json.load(f)
    out = {p: read_phase(v["args"], cache) for p, v in exported["phases"].items()}
    prefix = arg(exported["phases"]["pretrain"]["args"], "--data-path", many=True)[1]
    # The indexed dataset's first document as Megatron reads it from .bin/.idx.
    # (Kept in a name: the document is a view of the dataset's memory map, closed with it.)
    indexed = IndexedDataset(prefix)
    out["first_document"] = indexed[0].tolist()
    out["documents"] = len(indexed)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
