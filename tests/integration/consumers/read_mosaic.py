"""Run in the consumer venv (mosaicml-streaming): build Streaming's own StreamingDataset from an
exported recipe's llm-foundry ``train_loader.dataset`` (its streams, proportions, epoch size
and shuffle; ``max_seq_len`` is llm-foundry's own truncation, not Streaming's), iterate one
epoch and print per phase the share of samples each source supplied (JSON on stdout).

``import streaming`` also imports its vision datasets, i.e. torchvision, whose only wheel here
is a CUDA build that cannot import beside CPU torch; Streaming's text path never uses it, so
the package is loaded from ``streaming.base`` alone (the same fallback the exporter uses)."""

import hashlib
import importlib.machinery
import json
import sys
import types

spec = importlib.machinery.PathFinder.find_spec("streaming")
package = types.ModuleType("streaming")
package.__path__ = list(spec.submodule_search_locations)
sys.modules["streaming"] = package

from streaming.base import LocalDataset, Stream, StreamingDataset  # noqa: E402


def digest(tokens) -> str:
    return hashlib.sha1(tokens.tobytes()).hexdigest()


def read_phase(phase: dict) -> dict:
    dataset_cfg = dict(phase["llm_foundry"]["train_loader"]["dataset"])
    streams_cfg = dataset_cfg.pop("streams")
    seq_len = dataset_cfg.pop("max_seq_len")
    source_of = {}
    for name, s in streams_cfg.items():
        for sample in LocalDataset(local=s["local"]):
            source_of.setdefault(digest(sample["tokens"]), name)
    streams = [Stream(local=s["local"], proportion=s["proportion"]) for s in streams_cfg.values()]
    dataset = StreamingDataset(streams=streams, batch_size=1, **dataset_cfg)
    counts: dict[str, int] = {}
    lengths = set()
    for sample in dataset:
        source = source_of[digest(sample["tokens"])]
        counts[source] = counts.get(source, 0) + 1
        lengths.add(len(sample["tokens"]))
    total = sum(counts.values())
    return {
        "samples": total,
        "shares": {s: n / total for s, n in counts.items()},
        "lengths": sorted(lengths),
        "seq_len": seq_len,
    }


def main() -> None:
    with open(sys.argv[1]) as f:
        exported = json.load(f)
    print(json.dumps({p: read_phase(v) for p, v in exported["phases"].items()}))


if __name__ == "__main__":
    main()
