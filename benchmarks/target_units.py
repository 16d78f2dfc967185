"""How far a recipe's weights move between units: proxy tokens, bytes, a target's tokens.

Measures each demo source's UTF-8 bytes per token under the proxy's own tokenizer (2,048
entries, trained on the demo data) and under a real target tokenizer (GPT-NeoX-20B, 50,277
entries, benchmarks/data/tokenizers), on every train document (so the SE is 0), then converts
the mixtures of the committed bench grid (docs/bench_grid_points.jsonl, 30 points) and reports
how much each weight moves.

    python benchmarks/target_units.py            # ~1 min: demo data (built once, cached)
    python benchmarks/target_units.py --smoke    # the tiny data, nothing written to docs/
    python benchmarks/target_units.py --from-points docs/target_units_points.jsonl

Writes docs/target_units_points.jsonl (one row per source: documents, bytes, tokens under each
tokenizer), and from it and the grid docs/target_units.json and docs/target_units.md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from codemix_search.export.units import convert  # noqa: E402

TOKENIZER = os.path.join(ROOT, "benchmarks", "data", "tokenizers", "gpt-neox-20b")
GRID = os.path.join(ROOT, "docs", "bench_grid_points.jsonl")
DOCS = os.path.join(ROOT, "docs")
PHASES = ("pretrain", "cooldown")
CODE_SOURCES = ("code", "synthetic_code", "commits")


def measure_points(space_file: str, tokenizer: str) -> list[dict]:
    """One row per source of ``space_file``'s data: its train documents, their bytes and their
    tokens under the proxy and the target tokenizer (end-of-text included)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from codemix_search.config.load import load_space
    from codemix_search.data.build import prepare_space_data
    from codemix_search.demo.make_sources import space_sources
    from codemix_search.export.measure_units import (
        encode_sources,
        load_target_tokenizer,
        measure,
        sample_sources,
    )
    from codemix_search.storage.folder import Folder

    space = load_space(space_file)
    data = prepare_space_data(
        space, *space_sources(space), Folder(tempfile.mkdtemp(prefix="units-")), engine="local"
    )
    target = load_target_tokenizer(tokenizer)
    texts = sample_sources(data.uri, data.manifest, sorted(data.manifest.sources), None)
    rows = []
    for source, units in sorted(measure(texts, encode_sources(texts, target)).items()):
        proxy, tgt = units["proxy"], units["target"]
        rows.append({
            "source": source,
            "space": os.path.relpath(space_file, ROOT),
            "proxy_vocab": int(data.manifest.vocab_size),
            "target": target.name,
            "target_vocab": target.vocab_size,
            "documents": proxy.documents,
            "bytes": proxy.bytes,
            "proxy_tokens": proxy.tokens,
            "target_tokens": tgt.tokens,
        })  # fmt: skip
    return rows


def summarise(points: list[dict], grid: list[dict]) -> dict:
    """Bytes per token per source, and over the grid's mixtures how far each weight moves from
    proxy-token shares to byte shares and to target-token shares (largest and mean absolute
    change; the code fraction, code + synthetic code + commits, under each unit)."""
    proxy = {p["source"]: p["bytes"] / p["proxy_tokens"] for p in points}
    target = {p["source"]: p["bytes"] / p["target_tokens"] for p in points}
    moves = {"bytes": [], "target": []}
    code = []
    for row in grid:
        for phase in PHASES:
            w = {s: v for s, v in row["mixture"][phase].items() if v > 0}
            as_bytes, as_target = convert(w, proxy), convert(w, proxy, target)
            for s in w:
                moves["bytes"].append(abs(as_bytes[s] - w[s]))
                moves["target"].append(abs(as_target[s] - w[s]))
            code.append({
                "point": row["trial_id"],
                "phase": phase,
                "proxy": sum(w.get(s, 0.0) for s in CODE_SOURCES),
                "bytes": sum(as_bytes.get(s, 0.0) for s in CODE_SOURCES),
                "target": sum(as_target.get(s, 0.0) for s in CODE_SOURCES),
            })  # fmt: skip
    return {
        "target": points[0]["target"],
        "sources": {
            p["source"]: {
                "documents": p["documents"],
                "bytes_per_proxy_token": round(proxy[p["source"]], 4),
                "bytes_per_target_token": round(target[p["source"]], 4),
                "target_tokens_per_proxy_token": round(p["target_tokens"] / p["proxy_tokens"], 4),
            }
            for p in points
        },
        "grid_points": len(grid),
        "weight_change": {
            unit: {"max": round(max(v), 4), "mean": round(sum(v) / len(v), 4)}
            for unit, v in moves.items()
        },
        "code_fraction_change": {
            unit: {
                "max": round(max(abs(c[unit] - c["proxy"]) for c in code), 4),
                "mean": round(sum(c[unit] - c["proxy"] for c in code) / len(code), 4),
            }
            for unit in ("bytes", "target")
        },
    }


def markdown(summary: dict) -> str:
    lines = [
        "# Recipe weights in other units (demo data)",
        "",
        "Recomputed by `python benchmarks/target_units.py --from-points "
        "docs/target_units_points.jsonl` from the per-source counts (every train document: SE 0) "
        f"and the {summary['grid_points']} mixtures of docs/bench_grid_points.jsonl.",
        "",
        f"| source | train documents | bytes / proxy token | bytes / {summary['target']} token "
        "| target tokens per proxy token |",
        "|---|---|---|---|---|",
    ]
    for s, v in summary["sources"].items():
        lines.append(
            f"| {s} | {v['documents']} | {v['bytes_per_proxy_token']:.3f} | "
            f"{v['bytes_per_target_token']:.3f} | {v['target_tokens_per_proxy_token']:.3f} |"
        )
    wc, cf = summary["weight_change"], summary["code_fraction_change"]
    lines += [
        "",
        "| change from proxy-token shares | to byte shares | to target-token shares |",
        "|---|---|---|",
        f"| a source's weight, largest | {wc['bytes']['max']:.4f} | {wc['target']['max']:.4f} |",
        f"| a source's weight, mean | {wc['bytes']['mean']:.4f} | {wc['target']['mean']:.4f} |",
        f"| code fraction (code + synthetic + commits), largest | {cf['bytes']['max']:.4f} | "
        f"{cf['target']['max']:.4f} |",
        f"| code fraction, mean signed | {cf['bytes']['mean']:+.4f} | {cf['target']['mean']:+.4f} |",
        "",
    ]
    return "\n".join(lines)


def read_jsonl(path: str) -> list[dict]:
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def write(summary: dict, points: list[dict], out_dir: str) -> None:
    with open(os.path.join(out_dir, "target_units_points.jsonl"), "w") as f:
        f.writelines(json.dumps(p, sort_keys=True) + "\n" for p in points)
    with open(os.path.join(out_dir, "target_units.json"), "w") as f:
        json.dump(summary, f, indent=1, sort_keys=True)
        f.write("\n")
    with open(os.path.join(out_dir, "target_units.md"), "w") as f:
        f.write(markdown(summary))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="the tiny data; nothing written")
    ap.add_argument("--from-points", help="recompute from committed per-source rows")
    ap.add_argument("--tokenizer", default=TOKENIZER)
    ap.add_argument("--grid", default=GRID)
    ap.add_argument("--out", default=DOCS)
    args = ap.parse_args(argv)
    if args.from_points:
        points = read_jsonl(args.from_points)
    else:
        space = "tiny.yaml" if args.smoke else "bench_grid.yaml"
        points = measure_points(os.path.join(ROOT, "search_spaces", space), args.tokenizer)
    summary = summarise(points, read_jsonl(args.grid))
    print(markdown(summary))
    if not args.smoke:
        write(summary, points, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
