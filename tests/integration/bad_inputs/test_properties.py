"""The CLI's contract on generated input (hypothesis): every search space, dotlist override and
flag combination gives exit 0, or exit 2 with exactly one line ``error: ...``; never a traceback,
never a hang, and nothing written when it refuses.

Run in-process through ``guarded(main)`` (the wrapper the CLI itself uses; an exception it does not
turn into one line escapes and fails the example) with ``--dry-run``, so thousands of inputs take
seconds, not a Ray start each. A per-example alarm turns a hang into a failure.
``CODEMIX_PROPERTY_EXAMPLES`` (default 150 per property) sets the count; the counts a run made
are printed (``-s``) for the closing note.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import string

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from codemix_search.errors import guarded
from tests.helpers import REPO

EXAMPLES = int(os.environ.get("CODEMIX_PROPERTY_EXAMPLES", "150"))
TINY = yaml.safe_load(open(os.path.join(REPO, "search_spaces", "tiny.yaml")))
HANG_S = 20  # one dry run takes well under a second; 20 s is a hang
COUNTS: dict[str, int] = {}

# Every field of the tiny space (dotted), plus names nobody declared.
FIELDS = sorted(
    {
        f"{section}.{key}" if isinstance(value, dict) else section
        for section, value in TINY.items()
        for key in (value if isinstance(value, dict) else [None])
    }
    | {"parameters.code_fraction.low", "parameters.code_fraction.high", "parameters.init",
       "training.use_gpu", "training.workers", "training.compile", "budget.max_tokens",
       "evaluation.baseline", "data.sources", "nonsense", "training.nonsense"}
)  # fmt: skip

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.sampled_from(["auto", "true", "asha", "tpe", "grid", "scratch", "balanced", "../x",
                     "/nonexistent/model", "s3://b/x", "memory://x", "1e309", "-0", "0x10"]),
)  # fmt: skip
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def _set(doc: dict, dotted: str, value) -> None:
    node = doc
    *parents, last = dotted.split(".")
    for p in parents:
        if not isinstance(node.get(p), dict):
            node[p] = {}
        node = node[p]
    node[last] = value


def _tree(d: str) -> set[str]:
    return {os.path.relpath(os.path.join(r, n), d) for r, ds, fs in os.walk(d) for n in ds + fs}


def _alarm(signum, frame):
    raise TimeoutError(f"no answer in {HANG_S} s")


def call(main, argv: list[str], hang_s: int = HANG_S) -> tuple[int, str, str]:
    """``main(argv)`` in-process: its exit code, stdout and stderr; a hang past ``hang_s`` is
    a TimeoutError (the per-example alarm)."""
    out, err = io.StringIO(), io.StringIO()
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(hang_s)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                rc = main(argv)
            except SystemExit as e:  # argparse's own exit (OneLineParser: one line, exit 2)
                rc = e.code
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    return rc, out.getvalue(), err.getvalue()


def run_cli(argv: list[str], work: str, what: str) -> tuple[int, str, str]:
    """The contract, asserted: exit 0, or 2 with one line; no traceback, no hang, and on a
    refusal nothing new under ``work``."""
    from codemix_search.run import main

    before = _tree(work)
    rc, stdout, stderr = call(guarded(main), argv)
    COUNTS[what] = COUNTS.get(what, 0) + 1
    assert "Traceback" not in stderr + stdout, (argv, stderr[-2000:])
    assert rc in (0, 2), (argv, rc, stderr[-2000:])
    if rc == 2:
        lines = stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), (argv, lines)
        assert _tree(work) == before, (argv, sorted(_tree(work) - before))
    return rc, stdout, stderr


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    return str(tmp_path_factory.mktemp("props"))


SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,  # the same inputs on every CI run: a failure reproduces
)


@SETTINGS
@given(changes=st.lists(st.tuples(st.sampled_from(FIELDS), values), min_size=1, max_size=4))
def test_every_generated_space_is_accepted_or_refused_in_one_line(work, changes):
    doc = json.loads(json.dumps(TINY))
    for field, value in changes:
        _set(doc, field, value)
    path = os.path.join(work, "space.yaml")
    with open(path, "w") as f:
        yaml.safe_dump(doc, f, allow_unicode=True)
    before = _tree(work)
    run_cli(["--space", path, "--storage", os.path.join(work, "runs"), "--dry-run"], work, "spaces")
    assert _tree(work) == before  # a dry run writes nothing either


override_keys = st.one_of(st.sampled_from(FIELDS), st.text(max_size=20))
override_values = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["[1, 2", "{a: 1}", "&a [*a]", "!!python/object/apply:os.system [id]",
                     "1e999", "nan", "-1", "999999999999999999999", "''", "[[[[[[[[]]]]]]]]"]),
)  # fmt: skip


@SETTINGS
@given(overrides=st.lists(st.tuples(override_keys, override_values), min_size=1, max_size=3))
def test_every_generated_override_is_accepted_or_refused_in_one_line(work, overrides):
    space = os.path.join(REPO, "search_spaces", "tiny.yaml")
    dotlist = [f"{k}={v}" for k, v in overrides]
    run_cli(["--space", space, "--storage", os.path.join(work, "runs"), "--dry-run", *dotlist],
            work, "overrides")  # fmt: skip


names = st.one_of(st.text(max_size=120), st.text(string.ascii_letters + "._-", max_size=120))
storages = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["", " ", "memory://x", "nosuch://b", "s3://", "file://", "/proc/x",
                     "/etc/passwd", "relative/runs", "runs#1", "~/x?y", "\x00"]),
)  # fmt: skip
addresses = st.one_of(
    st.sampled_from(["127.0.0.1:1", "http://127.0.0.1:1", "ray://127.0.0.1:1", "auto", "",
                     "127.0.0.1:0", "127.0.0.1:70000", "[::1]:1", "x"]),
    st.text(string.ascii_letters + string.digits + "/_-", max_size=20),  # no ':': no DNS lookup
)  # fmt: skip


@SETTINGS
@given(
    name=st.one_of(st.none(), names),
    storage=st.one_of(st.none(), storages),
    address=st.one_of(st.none(), addresses),
    resume=st.booleans(),
)
def test_every_generated_flag_combination_is_accepted_or_refused_in_one_line(
    work, name, storage, address, resume
):
    os.chdir(work)  # relative storages resolve here, inside the checked folder
    argv = ["--space", os.path.join(REPO, "search_spaces", "tiny.yaml"), "--dry-run"]
    if name is not None:
        argv += ["--name", name]
    if storage is not None:
        argv += ["--storage", storage]
    if address is not None:
        argv += ["--address", address]
    if resume:
        argv.append("--resume")
    try:
        run_cli(argv, work, "flags")
    finally:
        os.chdir(REPO)


def test_zz_report_counts():
    """Prints how many inputs each property ran (the note quotes them)."""
    print("generated inputs:", COUNTS)
    assert sum(COUNTS.values()) >= 3 * min(EXAMPLES, 10) or not COUNTS
