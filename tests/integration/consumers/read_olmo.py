"""Run in the consumer venv (ai2-olmo-core): build OLMo-core's own dataset from an exported
recipe's config (``NumpyFSLDatasetConfig.from_dict``, as a training script's config would be
read), prepare it, and print per phase the share of instances each source supplies and the
first instance's tokens (JSON on stdout)."""

import json
import sys

from olmo_core.data.numpy_dataset import NumpyFSLDatasetConfig


def read_phase(phase: dict) -> dict:
    config = NumpyFSLDatasetConfig.from_dict(phase["dataset"])
    source_of = {
        p: s.source_name for s in config.source_mixture_config.source_list.sources for p in s.paths
    }
    dataset = config.build()
    dataset.prepare()
    counts: dict[str, int] = {}
    for path, (start, end) in zip(dataset.paths, dataset.offsets, strict=True):
        counts[source_of[str(path)]] = counts.get(source_of[str(path)], 0) + end - start
    total = sum(counts.values())
    assert total == len(dataset), (total, len(dataset))
    first = dataset[0]["input_ids"].tolist()
    return {
        "instances": total,
        "shares": {s: n / total for s, n in counts.items()},
        "first_tokens": first,
        "first_path": str(dataset.paths[0]),
    }


def main() -> None:
    with open(sys.argv[1]) as f:
        exported = json.load(f)
    print(json.dumps({p: read_phase(v) for p, v in exported["phases"].items()}))


if __name__ == "__main__":
    main()
