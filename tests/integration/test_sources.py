"""Sources: every format and location a team's corpora come in, and every bad declaration."""

import json
import os
import subprocess

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from codemix_search.config.sources import load_sources, parse_sources
from codemix_search.data.readers import check_source, iter_documents, list_files
from codemix_search.errors import ConfigError
from tests.helpers import REPO


def write_jsonl(path, docs, field="text"):
    with open(path, "w") as f:
        for d in docs:
            f.write(json.dumps({field: d, "meta": 1}) + "\n")


def spec_of(tmp_path, **src):
    raw = {"sources": [{"name": "s", "kind": "text", **src}]}
    return parse_sources(raw, str(tmp_path / "sources.yaml"), str(tmp_path)).sources[0]


def test_jsonl_folder_glob_and_gzip(tmp_path):
    import gzip

    (tmp_path / "d").mkdir()
    write_jsonl(tmp_path / "d" / "a.jsonl", ["one", "two"])
    with gzip.open(tmp_path / "d" / "b.jsonl.gz", "wt") as f:
        f.write(json.dumps({"text": "three"}) + "\n\n")
    (tmp_path / "d" / "notes.csv").write_text("ignored")
    folder = spec_of(tmp_path, uri="d", format="jsonl")
    assert list(iter_documents(folder)) == ["one", "two", "three"]
    glob = spec_of(tmp_path, uri="d/*.gz", format="jsonl")
    assert list(iter_documents(glob)) == ["three"]
    capped = spec_of(tmp_path, uri="d", format="jsonl", max_documents=2)
    assert len(list(iter_documents(capped))) == 2


def test_parquet_text_and_memory(tmp_path):
    import fsspec

    pq.write_table(pa.table({"body": ["alpha", "beta"], "n": [1, 2]}), tmp_path / "x.parquet")
    assert list(iter_documents(spec_of(tmp_path, uri="x.parquet", format="parquet", field="body")))
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "a.md").write_text("# doc a\n")
    (tmp_path / "t" / "b.txt").write_text("doc b")
    assert list(iter_documents(spec_of(tmp_path, uri="t", format="text"))) == ["# doc a\n", "doc b"]
    with fsspec.open("memory://corpus/m.jsonl", "w") as f:
        f.write(json.dumps({"text": "in memory"}) + "\n")
    assert list(iter_documents(spec_of(tmp_path, uri="memory://corpus/m.jsonl"))) == ["in memory"]


def test_git_source_reads_commit_messages_and_diffs(tmp_path):
    repo = tmp_path / "r"
    repo.mkdir()
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@x",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@x",
    }
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    (repo / "f.py").write_text("x = 1\n")
    subprocess.run(["git", "-C", str(repo), "add", "."], check=True, env=env)
    subprocess.run(["git", "-C", str(repo), "commit", "-qm", "Add x"], check=True, env=env)
    (repo / "f.py").write_text("x = 2\n")
    subprocess.run(["git", "-C", str(repo), "commit", "-qam", "Bump x to 2"], check=True, env=env)
    docs = list(iter_documents(spec_of(tmp_path, kind="commits", uri="r", format="git")))
    assert len(docs) == 2
    assert docs[0].startswith("commit ") and "Bump x to 2" in docs[0] and "+x = 2" in docs[0]


def test_sources_yaml_relative_uris_and_defaults(tmp_path):
    write_jsonl(tmp_path / "a.jsonl", ["doc"])
    (tmp_path / "s.yaml").write_text(
        "tokenizer: {vocab_size: 512}\nsources:\n"
        "  - {name: web, kind: text, uri: a.jsonl}\n"
        "  - {name: books, kind: hq_text, uri: a.jsonl, phases: [cooldown], weight: 2}\n"
    )
    cfg = load_sources(str(tmp_path / "s.yaml"))
    assert cfg.vocab_size == 512
    assert cfg.sources[0].uri == str(tmp_path / "a.jsonl")
    assert cfg.sources[1].phases == ("cooldown",) and cfg.sources[1].weight == 2
    assert list_files(cfg.sources[0]) == [str(tmp_path / "a.jsonl")]


BAD_DECLARATIONS = [
    ({"sources": []}, "sources", "non-empty list"),
    ({"sources": [{"name": "a", "kind": "text"}]}, "sources.a.uri", "required"),
    (
        {"sources": [{"name": "a", "kind": "text", "uri": "x", "format": "csv"}]},
        "sources.a",
        "'csv' is unknown",
    ),
    (
        {"sources": [{"name": "a", "kind": "text", "uri": "x", "colour": 1}]},
        "sources.a.colour",
        "unknown field",
    ),
    ({"sources": [{"name": "A b", "kind": "text", "uri": "x"}]}, "sources.A b", "lower-case"),
    (
        {"sources": [{"name": "a", "kind": "text", "uri": "x", "weight": 0}]},
        "sources.a",
        "positive",
    ),
    (
        {"sources": [{"name": "a", "kind": "text", "uri": "x", "phases": ["warmup"]}]},
        "sources.a",
        "phases",
    ),
    (
        {
            "sources": [
                {"name": "a", "kind": "text", "uri": "x"},
                {"name": "a", "kind": "code", "uri": "y"},
            ]
        },
        "sources",
        "duplicate",
    ),
    (
        {
            "sources": [
                {"name": "a", "kind": "text", "uri": "x", "storage_options": {"secret": "s"}}
            ]
        },
        "sources.a",
        "credentials",
    ),
    (
        {"sources": [{"name": "a", "kind": "commits", "uri": "s3://b/repo", "format": "git"}]},
        "sources.a",
        "local repository",
    ),
    (
        {"sources": [{"name": "a", "kind": "text", "uri": "x"}], "tokenizer": {"vocab_size": 10}},
        "sources",
        "vocab_size",
    ),
    (
        {"sources": [{"name": "a", "kind": "text", "uri": "x"}], "extra": 1},
        "extra",
        "unknown field",
    ),
]


@pytest.mark.parametrize("raw,field,message", BAD_DECLARATIONS)
def test_bad_declarations_are_one_line_errors(tmp_path, raw, field, message):
    with pytest.raises(ConfigError) as e:
        parse_sources(raw, "s.yaml", str(tmp_path))
    line = e.value.one_line()
    assert "\n" not in line and line.startswith("s.yaml") and field in line and message in line


def test_bad_data_found_when_checked(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "blank.jsonl").write_text("\n\n")
    (tmp_path / "nofield.jsonl").write_text(json.dumps({"content": "x"}) + "\n")
    (tmp_path / "broken.jsonl").write_text('{"text": "ok"}\n{"text": \n')
    pq.write_table(pa.table({"body": ["x"]}), tmp_path / "p.parquet")
    cases = [
        (dict(uri="missing.jsonl"), "does not exist"),
        (dict(uri="empty"), "no jsonl files"),
        (dict(uri="*.nothing"), "no jsonl files"),
        (dict(uri="blank.jsonl"), "holds no documents"),
        (dict(uri="nofield.jsonl"), "no text field 'text'"),
        (dict(uri="p.parquet", format="parquet"), "no column 'text'"),
        (dict(uri="empty", format="git"), "not a git repository"),
    ]
    for src, message in cases:
        with pytest.raises(ConfigError) as e:
            check_source(spec_of(tmp_path, **src), "s.yaml")
        assert message in e.value.one_line() and "sources.s" in e.value.one_line()
    with pytest.raises(ConfigError, match=r"broken.jsonl:2 is not valid JSON"):
        list(iter_documents(spec_of(tmp_path, uri="broken.jsonl"), "s.yaml"))


def test_cli_reports_a_bad_sources_file_in_one_line(tmp_path):
    (tmp_path / "s.yaml").write_text("sources:\n  - {name: web, kind: text, uri: nowhere/}\n")
    r = subprocess.run(
        [
            os.sys.executable,
            "-m",
            "codemix_search",
            "data",
            "build",
            "--engine",
            "local",
            "--sources",
            str(tmp_path / "s.yaml"),
            "--storage",
            str(tmp_path / "out"),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 2, r.stderr
    assert (
        r.stderr.count("\n") == 1 and "sources.web.uri" in r.stderr and "Traceback" not in r.stderr
    )
    assert not (tmp_path / "out").exists()
