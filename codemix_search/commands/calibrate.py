"""``codemix_search calibrate --space S [--mixtures K] [--seeds N]``: before a search, measure
whether its objectives can tell mixtures apart at its scale (analysis/calibrate.py): K mixtures
x N seeds trained to the end through the normal pipeline, then per objective the seed noise, SNR
and minimum detectable difference, written to ``<run>/calibration.{json,md}`` and printed."""

from __future__ import annotations

import argparse
import logging
import os

from codemix_search.analysis.calibrate import calibration_space, markdown, seed_table
from codemix_search.config.load import load_space, parse_space
from codemix_search.errors import ConfigError, OneLineParser
from codemix_search.export.recipes import load_run
from codemix_search.export.signal import CALIBRATION, fingerprint
from codemix_search.pipeline import check_request, execute


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = OneLineParser(prog="codemix_search calibrate", description=__doc__.splitlines()[0])
    ap.add_argument("--space", required=True, help="the search space to calibrate")
    ap.add_argument("--mixtures", type=int, default=4, help="reference mixtures K (>= 2)")
    ap.add_argument("--seeds", type=int, default=2, help="seed replicas per mixture (>= 2)")
    ap.add_argument("--storage", default=os.path.abspath("runs"))
    ap.add_argument("--name", default=None, help="run name (default: <space>-calibration)")
    ap.add_argument("--address", default=None, help="Ray cluster address")
    ap.add_argument("overrides", nargs="*", help="dotlist overrides of the space")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:

    args = parse_args(argv)
    for flag, value in (("--mixtures", args.mixtures), ("--seeds", args.seeds)):
        if value < 2:
            raise ConfigError(flag, "", f"{value}: calibration needs >= 2 (signal and noise)")
    space = load_space(args.space, args.overrides)
    raw = calibration_space(space, args.mixtures, args.seeds)
    cal = parse_space(raw, space.source_file)
    req = check_request(None, [], args.storage, args.name or cal.name, False, space=cal)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    rc = execute(req, args.address)
    records = load_run(req.run)
    table = seed_table(records, cal)
    # The fingerprint lets a later run on the same storage with the same model, data, tokens,
    # evaluation and objectives take its seed noise from here (export/signal.find_calibration).
    req.run.write_json(
        CALIBRATION,
        {
            "mixtures": args.mixtures,
            "seeds": args.seeds,
            "fingerprint": fingerprint(cal),
            "objectives": table,
        },
    )
    text = markdown(table, args.mixtures, args.seeds)
    req.run.write_text("calibration.md", text)
    print("\n" + text)
    return rc
