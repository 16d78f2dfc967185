"""One definition per training knob: a knob added as one field (and its validate line) of the
``training`` section reaches the loop, the bases' cache key and the recipe with no other edit.

The test adds a knob to a copy of the package (a real edit of config/sections.py, as a developer
would make it) and follows it through in a subprocess; the same script on the package as it is
must fail, so the test cannot pass by accident."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap

import pytest

from codemix_search.config.sections import TRAINING_FIELDS
from tests.helpers import REPO, TINY

FIELD = '''    fake_knob: float = 0.5
    """A knob added by tests/unit/test_one_knob.py."""
'''
CHECK = """        if not self.fake_knob > 0:
            bad("fake_knob", f"must be > 0, got {self.fake_knob}")
"""

FOLLOW = textwrap.dedent(
    """
    import json, sys
    import yaml
    from codemix_search.config.load import parse_space
    from codemix_search.core.records import TrialRecord
    from codemix_search.data.dataset import DataManifest
    from codemix_search.errors import ConfigError
    from codemix_search.export.recipes import recipe
    from codemix_search.train.bases import base_key, base_loop_config
    from codemix_search.train.loop_config import LoopConfig, loop_config

    raw = yaml.safe_load(open(sys.argv[1]))
    manifest = DataManifest(sources={}, vocab_size=2048, eos_id=0, tokenizer_sha256="t", key="k")

    def space_with(value, searched=None):
        r = json.loads(json.dumps(raw))
        r["training"]["fake_knob"] = value
        if searched:
            r["parameters"]["fake_knob"] = {"type": "categorical", "choices": searched}
        return parse_space(r, sys.argv[1])

    space = space_with(0.7)
    cfg = dict(space.initial_points[0]) if space.initial_points else {}
    cfg = {**{p.name: p.sample(__import__("random").Random(0)) for p in space.parameters}, **cfg}
    cfg["init"] = "scratch"  # no base to build here
    # the loop: what a Ray worker receives is LoopConfig.from_dict of the driver's to_dict
    sent = json.loads(json.dumps(loop_config(space, cfg, "uri", manifest, seed=0).to_dict()))
    assert LoopConfig.from_dict(sent).training.fake_knob == 0.7
    # searched: a sampled value overrides the section's
    searched = space_with(0.7, [0.9])
    assert loop_config(searched, {**cfg, "fake_knob": 0.9}, "u", manifest, 0).training.fake_knob == 0.9
    # the bases' key: another value is another base
    keys = {base_key("text", base_loop_config(space_with(v), "text", "u", manifest)) for v in (0.7, 0.8)}
    assert len(keys) == 2, keys
    # the recipe's training block
    record = TrialRecord("t1", "finished", config=cfg, mixture_id="m",
                         mixture=space.mixture(cfg).to_dict(),
                         objectives={o.name: 1.0 for o in space.objectives})
    assert recipe(record, space, "run", {})["training"]["fake_knob"] == 0.7
    # its validate line: one line naming the field
    try:
        space_with(-1.0)
    except ConfigError as e:
        assert "training.fake_knob" in e.one_line(), e.one_line()
    else:
        raise AssertionError("a negative fake_knob was accepted")
    print("knob followed")
    """
)


def _package_copy(tmp_path, add_knob: bool) -> str:
    root = tmp_path / ("with" if add_knob else "without")
    shutil.copytree(
        os.path.join(REPO, "codemix_search"),
        root / "codemix_search",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    if add_knob:
        path = root / "codemix_search" / "config" / "sections.py"
        src = path.read_text()
        # one field at the end of Training's fields, one line in its validate()
        # one field after Training's last one, one line in its validate()
        start = src.index("class Training")
        at = src.index("\n    def validate(self, file: str) -> None:", start)
        src = src[:at] + "\n" + FIELD + src[at:]
        at = src.index("        init_problem = check_init(self.init)\n", start)
        src = src[:at] + CHECK + src[at:]
        path.write_text(src)
    return str(root)


def _follow(root: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": root}
    return subprocess.run(
        [sys.executable, "-c", FOLLOW, TINY],
        env=env,
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_new_knob_reaches_the_loop_the_base_key_and_the_recipe(tmp_path):
    out = _follow(_package_copy(tmp_path, add_knob=True))
    assert out.returncode == 0 and "knob followed" in out.stdout, out.stderr[-2000:]


def test_without_the_field_the_knob_is_refused(tmp_path):
    out = _follow(_package_copy(tmp_path, add_knob=False))
    assert out.returncode != 0 and "fake_knob" in out.stderr


@pytest.mark.parametrize("knob", sorted(TRAINING_FIELDS))
def test_every_training_knob_has_its_doc_line(knob):
    text = open(os.path.join(REPO, "docs", "spaces.md")).read()
    row = next(line for line in text.splitlines() if line.startswith("| `training` |"))
    assert f"`{knob}`" in row, f"docs/spaces.md's training row does not name {knob}"
