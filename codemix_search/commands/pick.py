"""``codemix_search pick RUN [--weight OBJ=W ...] [--constraint "OBJ <= baseline" ...]``:
re-rank a finished run's trials by a preference given now, without retraining
(analysis/pick.py). Without flags: the run's own ``ranking.preference``, else equal weights.

    codemix_search pick runs/demo1 --weight nl_reasoning=1 --weight code=0.5 \\
        --constraint "code <= baseline" --top 5
"""

from __future__ import annotations

import dataclasses

from codemix_search.analysis.pick import pick
from codemix_search.config.load import parse_space
from codemix_search.core.preference import Preference, PreferenceError
from codemix_search.core.strict_json import strict_json
from codemix_search.errors import ConfigError, OneLineParser, number
from codemix_search.export.recipes import load_run
from codemix_search.storage.folder import Folder
from codemix_search.storage.layout import RunLayout


def _weights(items: list[str]) -> dict[str, float]:
    out = {}
    for item in items:
        name, _, value = item.partition("=")
        try:  # no '=' leaves value empty: not a number either
            out[name.strip()] = float(value)
        except ValueError:
            raise ConfigError("--weight", "", f"{item!r}: write OBJECTIVE=NUMBER") from None
    return out


def _noise(run: Folder) -> dict[str, float | None]:
    """Each objective's noise from the run's report, where seed noise was measured (a noise
    without it is not what a rerun would show: left out)."""
    try:
        signal = run.child("report").read_json("report.json").get("signal") or {}
    except (FileNotFoundError, ValueError):
        return {}
    return {
        n: (t.get("noise") if t.get("seed_noise") is not None else None) for n, t in signal.items()
    }


def main(argv: list[str] | None = None) -> int:
    ap = OneLineParser(prog="codemix_search pick", description=__doc__.splitlines()[0])
    ap.add_argument("run", help="a finished run folder (fsspec URI)")
    ap.add_argument("--weight", action="append", default=[], help="OBJECTIVE=W (repeatable)")
    ap.add_argument("--constraint", action="append", default=[], help="'OBJ <= baseline|NUMBER'")
    ap.add_argument("--top", type=number(int, 1), default=10, help="rows to print")
    ap.add_argument("--json", action="store_true", help="every row as strict JSON")
    args = ap.parse_args(argv)
    run = Folder(args.run)
    records = load_run(run)
    space = parse_space(run.read_yaml(RunLayout.SPACE), run.file(RunLayout.SPACE))
    if args.weight or args.constraint:
        try:
            preference = Preference.parse(
                _weights(args.weight), args.constraint, space.metric_names
            )
        except PreferenceError as e:
            raise ConfigError("--weight/--constraint", "", str(e)) from None
    else:
        preference = space.preference
    picks = pick(records, space, preference, _noise(run))
    if not picks:
        raise ConfigError(run.file(RunLayout.RECORDS), "", "no finished trial to pick from")
    if args.json:
        print(strict_json([dataclasses.asdict(p) for p in picks]))
        return 0
    weights = preference.weights if preference.weighted else "equal"
    print(f"{len(picks)} finished trials by preference {weights}"
          + (f", constraints {', '.join(map(str, preference.constraints))}" if preference.constraints else ""))  # fmt: skip
    names = space.metric_names
    print("rank  trial             score    " + "  ".join(f"{n:>12s}" for n in names) + "  note")
    for p in picks[: args.top]:
        broken = [c for c, v in p.violations.items() if v > 0]
        note = "breaks " + ", ".join(broken) if broken else (
            "within noise of the top" if p.within_noise and p.rank > 1 else ""
        )  # fmt: skip
        cells = "  ".join(f"{p.objectives[n]:12.4f}" for n in names)
        print(f"{p.rank:<5d} {p.trial_id:<17s} {p.score:7.3f}  {cells}  {note}")
    if all(p.within_noise is None for p in picks):
        print("(no seed noise measured for this run: ties cannot be told; see report.md)")
    return 0
