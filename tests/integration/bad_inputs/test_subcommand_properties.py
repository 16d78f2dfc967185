"""The contract on every subcommand, not only `run` (hypothesis, derandomised): generated flag
values and inputs give exit 0, or exit 2 (input) / 1 (fault) with exactly one line
``error: ...``; never a traceback, never a hang, never ``NaN`` in ``--json`` output, and nothing
written when it refuses.

In-process through ``codemix_search.cli.main`` (what the console script runs), so each input
costs milliseconds. Left out, because a valid input starts real work: ``calibrate`` and
``data build`` (a Ray start each; their flags are covered by test_bad_inputs.py), and
``dashboards push`` (a network client). ``CODEMIX_PROPERTY_EXAMPLES`` sets the count.
"""

from __future__ import annotations

import json
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers import TINY
from tests.integration.bad_inputs.test_properties import _tree, call

EXAMPLES = int(os.environ.get("CODEMIX_PROPERTY_EXAMPLES", "150"))
HANG_S = 30
COUNTS: dict[str, int] = {}

numbers = st.one_of(
    st.integers(min_value=-(10**7), max_value=10**7).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["nan", "inf", "-inf", "1e999", "0", "-0", "abc", "", " ", "1_000", "0x10",
                     "300B", "-5B", "1.5T", "1e-320"]),
)  # fmt: skip
texts = st.one_of(st.text(max_size=30), st.sampled_from(["", "-", "--", "..", "../..", "\x00"]))


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """A folder holding a run with records (as the search writes them), a small table, a
    file, a damaged YAML and an empty folder: the inputs the paths are drawn from."""
    from codemix_search.config.load import load_space
    from codemix_search.export.recipes import export_run
    from codemix_search.storage.folder import Folder
    from tests.integration.test_export import DATA_INFO, make_records

    root = str(tmp_path_factory.mktemp("sub-props"))
    space = load_space(TINY)
    run = Folder(os.path.join(root, "run"))
    run.write_yaml("space.yaml", space.to_dict())
    run.write_json("run.json", {"name": "run", "layout": 2, "data": DATA_INFO})
    export_run(make_records(space, run), space, run, "run", DATA_INFO)
    with open(os.path.join(root, "table.csv"), "w") as f:
        f.write("w:a,w:b,m:loss\n0.5,0.5,1.0\n0.2,0.8,1.2\n0.9,0.1,0.8\n")
    with open(os.path.join(root, "afile"), "w") as f:
        f.write("x")
    with open(os.path.join(root, "bad.yaml"), "w") as f:
        f.write("a: [\nb: b: b\n")
    os.makedirs(os.path.join(root, "empty"))
    return root


def paths(work_dir: str):
    return st.sampled_from(
        [os.path.join(work_dir, n) for n in ("run", "table.csv", "afile", "bad.yaml", "empty",
                                             "missing", "afile/below")]
        + ["", "/proc/x/y", "s3://", "memory://x", "../../x", "nosuch://b/c"]
    )  # fmt: skip


def run_cli(argv: list[str], work_dir: str, what: str) -> int:
    from codemix_search.cli import main

    before = _tree(work_dir)
    rc, stdout, stderr = call(main, argv, HANG_S)
    COUNTS[what] = COUNTS.get(what, 0) + 1
    assert "Traceback" not in stderr + stdout, (argv, stderr[-2000:])
    assert rc in (0, 1, 2), (argv, rc, stderr[-2000:])
    if rc:
        lines = stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), (argv, lines)
    if rc == 2:
        assert _tree(work_dir) == before, (argv, sorted(_tree(work_dir) ^ before))
    if rc == 0 and "--json" in argv:
        json.loads(stdout, parse_constant=lambda c: pytest.fail(f"{argv}: {c} is not JSON"))
    return rc


SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,
)


def flags(spec: dict) -> st.SearchStrategy:
    """A subset of ``spec``'s flags, each with a generated value (None: a bare switch)."""
    items = list(spec.items())
    return st.lists(
        st.sampled_from(items).flatmap(
            lambda kv: st.just([kv[0]]) if kv[1] is None else kv[1].map(lambda v, k=kv[0]: [k, v])
        ),
        max_size=4,
    ).map(lambda groups: [x for g in groups for x in g])


@SETTINGS
@given(data=st.data())
def test_plan(work, data):
    extra = data.draw(flags({"--gpus": numbers, "--gpu-type": st.sampled_from(["H100", "cpu", "x"]),
                             "--price-per-hour": numbers, "--json": None}))  # fmt: skip
    run_cli(["plan", "--space", TINY, *extra], work, "plan")


@SETTINGS
@given(data=st.data())
def test_export(work, data):
    run = data.draw(paths(work))
    extra = data.draw(
        flags({
            "--format": st.sampled_from(["megatron", "mosaic", "olmo_core", "x"]),
            "--out": paths(work), "--seq-len": numbers, "--target-tokens": numbers,
            "--cooldown-share": numbers, "--max-epochs": numbers, "--paths": paths(work),
            "--available": paths(work), "--rebalance": None, "--json": None,
        })
    )  # fmt: skip
    run_cli(["export", run, *extra], work, "export")


@SETTINGS
@given(data=st.data())
def test_replay_predict_transfer(work, data):
    which = data.draw(st.sampled_from(["replay", "predict", "transfer"]))
    spec = {
        "replay": {"--tolerance": numbers},
        "predict": {"--candidates": numbers, "--seed": numbers},
        "transfer": {"--space-for": texts},
    }[which]
    run_cli([which, data.draw(paths(work)), *data.draw(flags(spec))], work, which)


@SETTINGS
@given(data=st.data())
def test_data_check_and_verify(work, data):
    which = data.draw(st.sampled_from(["check", "verify"]))
    if which == "check":
        argv = ["data", "check", "--dataset", data.draw(paths(work))]
    else:
        argv = ["data", "verify", data.draw(paths(work)), "--out", data.draw(paths(work))]
        argv += data.draw(flags({"--timeout-s": numbers, "--memory-mb": numbers,
                                 "--workers": numbers}))  # fmt: skip
    run_cli(argv, work, f"data {which}")


@SETTINGS
@given(data=st.data())
def test_swarm_fit_propose(work, data):
    which = data.draw(st.sampled_from(["swarm", "fit", "propose"]))
    argv = [which, data.draw(paths(work)), "--weight-columns", "w:", "--metric-columns", "m:"]
    if which != "swarm":
        argv += ["--objective", data.draw(st.sampled_from(["loss", "m:loss", "nope", "loss:max"]))]
    argv += data.draw(flags({"--n": numbers, "--seed": numbers, "--json": None}))
    run_cli(argv, work, which)


def test_zz_report_counts():
    """Prints how many inputs each subcommand ran (the closing note quotes them)."""
    print("generated inputs per subcommand:", COUNTS)
    assert not COUNTS or min(COUNTS.values()) >= 1
