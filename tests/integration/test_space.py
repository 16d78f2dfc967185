"""Search-space loading: the shipped spaces load, bad ones give one line and exit 2."""

import os
import subprocess
import sys

import pytest
import yaml

from codemix_search.config.load import load_space
from codemix_search.errors import ConfigError
from tests.helpers import REPO, TINY, run_cli


def write(tmp_path, text, name="space.yaml"):
    p = tmp_path / name
    p.write_text(text)
    return str(p)


def tiny_raw():
    with open(TINY) as f:
        return yaml.safe_load(f)


@pytest.mark.parametrize(
    "name",
    sorted(n for n in os.listdir(os.path.join(REPO, "search_spaces")) if n.endswith(".yaml")),
)
def test_shipped_spaces_load(name):
    space = load_space(os.path.join(REPO, "search_spaces", name))
    assert space.objectives and space.training.steps >= 2 * space.training.evals


def test_overrides_apply_and_validate():
    space = load_space(TINY, ["budget.samples=8", "training.lr=0.01", "sampler=random"])
    assert space.budget.samples == 8 and space.training.lr == 0.01 and space.sampler == "random"
    with pytest.raises(ConfigError, match="budget.samplez"):
        load_space(TINY, ["budget.samplez=8"])


BAD = [
    ("parameters.code_fraction", lambda r: r["parameters"].pop("code_fraction")),
    ("parameters.code_fraction", lambda r: r["parameters"]["code_fraction"].update(high=1.5)),
    (
        "parameters.code_fraction",
        lambda r: r["parameters"]["code_fraction"].update(low=0.9, high=0.1),
    ),
    ("parameters.commit_share", lambda r: r["parameters"]["commit_share"].update(high=0.9)),
    (
        "parameters.code_fraction.type",
        lambda r: r["parameters"]["code_fraction"].update(type="gaussian"),
    ),
    (
        "parameters.dropout",
        lambda r: r["parameters"].update(dropout={"type": "float", "low": 0, "high": 1}),
    ),
    ("sampler", lambda r: r.update(sampler="cmaes-ish")),
    ("early_stopping.scheduler", lambda r: r["early_stopping"].update(scheduler="pbt")),
    ("training.batch_size", lambda r: r["training"].update(batch_size="eight")),
    ("training.tokens", lambda r: r["training"].update(tokens=100)),
    ("objectives[0].mode", lambda r: r["objectives"][0].update(mode="maximise")),
    ("budget.samples", lambda r: r["budget"].update(samples=True)),
    ("colour", lambda r: r.update(colour="blue")),
]


@pytest.mark.parametrize("field,mutate", BAD, ids=[b[0] + str(i) for i, b in enumerate(BAD)])
def test_bad_space_names_file_and_field(tmp_path, field, mutate):
    raw = tiny_raw()
    mutate(raw)
    path = write(tmp_path, yaml.safe_dump(raw))
    with pytest.raises(ConfigError) as e:
        load_space(path)
    assert e.value.file == path and field in e.value.one_line()
    assert "\n" not in e.value.one_line()


@pytest.mark.parametrize(
    "text,where",
    [
        ("", "empty"),
        ("name: [unclosed", "line"),
        ("!!python/object/apply:os.system ['echo hi']", "line"),
        ("- a\n- b\n", "mapping"),
    ],
)
def test_unparseable_files(tmp_path, text, where):
    with pytest.raises(ConfigError, match=where):
        load_space(write(tmp_path, text))


def test_cli_bad_space_exits_2_with_one_line(tmp_path):
    raw = tiny_raw()
    raw["parameters"]["code_fraction"]["high"] = 2
    path = write(tmp_path, yaml.safe_dump(raw))
    out = run_cli("--space", path, "--storage", str(tmp_path / "runs"), timeout=60)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and path in lines[0] and "parameters.code_fraction" in lines[0]
    assert "Traceback" not in out.stderr and not (tmp_path / "runs").exists()


def test_cli_missing_space_file(tmp_path):
    out = run_cli("--space", str(tmp_path / "nope.yaml"), timeout=60)
    assert out.returncode == 2 and "file not found" in out.stderr and "Traceback" not in out.stderr


def test_cli_dry_run_prints_mixtures_without_ray(tmp_path):
    out = run_cli(
        "--space",
        TINY,
        "--dry-run",
        "budget.samples=8",
        timeout=60,
        env={"RAY_ADDRESS": "127.0.0.1:1"},
    )
    assert out.returncode == 0, out.stderr
    assert "samples: 8" in out.stdout
    pre = [ln for ln in out.stdout.splitlines() if ln.strip().startswith("pretrain")]
    assert len(pre) == 3
    for ln in pre:
        weights = [float(tok.split("=")[1]) for tok in ln.split()[1:]]
        assert abs(sum(weights) - 1) < 5e-3 and all(w >= 0 for w in weights)


def test_python_dash_m_entry_point():
    out = subprocess.run(
        [sys.executable, "-m", "codemix_search", "run", "--space", TINY, "--dry-run"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0 and "sample 0" in out.stdout


def test_space_with_a_sources_file_builds_its_catalog(tmp_path):
    (tmp_path / "s.yaml").write_text(
        "sources:\n"
        "  - {name: web, kind: text, uri: web.jsonl, weight: 3}\n"
        "  - {name: books, kind: hq_text, uri: b.jsonl, phases: [cooldown]}\n"
        "  - {name: gh, kind: code, uri: gh.jsonl}\n"
        "  - {name: verified, kind: synthetic_code, uri: v.jsonl}\n"
        "  - {name: history, kind: commits, uri: h.jsonl}\n"
    )
    raw = tiny_raw()
    raw["data"] = {"sources": "s.yaml", "max_epochs": 2}
    space = load_space(write(tmp_path, yaml.safe_dump(raw)))
    assert [s.name for s in space.catalog] == ["web", "books", "gh", "verified", "history"]
    m = space.mixture(
        {
            "code_fraction": 0.5,
            "synthetic_share": 0.2,
            "commit_share": 0.2,
            "cooldown_code_fraction": 0.2,
        }
    )
    assert "books" not in m.pretrain and m.pretrain["web"] == pytest.approx(0.5)
    assert m.cooldown["web"] == pytest.approx(0.6) and m.cooldown["books"] == pytest.approx(0.2)


def test_space_whose_shares_need_a_missing_source_kind_is_refused(tmp_path):
    (tmp_path / "s.yaml").write_text(
        "sources:\n  - {name: web, kind: text, uri: w.jsonl}\n  - {name: gh, kind: code, uri: g.jsonl}\n"
    )
    raw = tiny_raw()
    raw["data"] = {"sources": "s.yaml"}
    with pytest.raises(ConfigError) as e:
        load_space(write(tmp_path, yaml.safe_dump(raw)))
    assert (
        "data.sources" in e.value.one_line() and "no source of kind commits" in e.value.one_line()
    )
    raw["parameters"]["synthetic_share"] = 0.0
    raw["parameters"]["commit_share"] = 0.0
    assert load_space(write(tmp_path, yaml.safe_dump(raw))).catalog[1].kind == "code"
    raw["data"] = {"sources": "s.yaml", "preset": "tiny"}
    with pytest.raises(ConfigError, match="drop them"):
        load_space(write(tmp_path, yaml.safe_dump(raw)))
    raw["data"] = {"sources": "missing.yaml"}
    with pytest.raises(ConfigError, match="missing.yaml.*not found"):
        load_space(write(tmp_path, yaml.safe_dump(raw)))


def test_points_to_evaluate_are_checked_against_the_parameters(tmp_path):
    raw = tiny_raw()
    raw["points_to_evaluate"] = [{"code_fraction": 0.5, "cooldown_code_fraction": 0.2}]
    assert (
        load_space(write(tmp_path, yaml.safe_dump(raw))).points_to_evaluate[0]["code_fraction"]
        == 0.5
    )
    for point, field in [
        ({"code_fraction": 1.5}, "points_to_evaluate[0].code_fraction"),
        ({"lr": 0.1}, "points_to_evaluate[0].lr"),
        ({"synthetic_share": 0.5, "commit_share": 0.5001}, "points_to_evaluate[0].commit_share"),
    ]:
        raw["points_to_evaluate"] = [point]
        with pytest.raises(ConfigError, match=field.replace("[", r"\[").replace("]", r"\]")):
            load_space(write(tmp_path, yaml.safe_dump(raw)))


def test_dirichlet_space_generates_its_parameters_and_refuses_shares(tmp_path):
    space = load_space(os.path.join(REPO, "search_spaces", "dirichlet.yaml"))
    names = [p.name for p in space.parameters]
    assert "w_pretrain_text" in names and "w_cooldown_commits" in names and len(names) == 10
    assert not space.evaluation.run_baseline  # the text-only default is not in this space
    again = yaml.safe_load(yaml.safe_dump(space.to_dict()))
    assert "parameters" not in again or not again["parameters"]
    raw = yaml.safe_load(open(os.path.join(REPO, "search_spaces", "dirichlet.yaml")))
    raw["parameters"] = {"code_fraction": 0.5}
    with pytest.raises(ConfigError, match="parameters.code_fraction.*dirichlet"):
        load_space(write(tmp_path, yaml.safe_dump(raw)))
    raw.pop("parameters")
    raw["mixture"]["min_weight"] = 0.25
    with pytest.raises(ConfigError, match="mixture.min_weight"):
        load_space(write(tmp_path, yaml.safe_dump(raw)))
