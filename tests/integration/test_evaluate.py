"""Evaluation: the four categories on a trained vs an untrained tiny model, held-out items,
sandboxed code scoring, the paper suite's registry names, and the judge client against a
loopback HTTP server (an OpenAI-compatible stand-in, declared as such)."""

import json
import os
import shutil
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from codemix_search.config.load import load_space
from codemix_search.core.suites import DEMO, PAPER
from codemix_search.data.dataset import materialize
from codemix_search.evaluate.judge import JudgeError, OpenAIJudge, ReferenceJudge, win_rate
from codemix_search.evaluate.scorers import chrf, demo_pass_at_1
from codemix_search.evaluate.tasks import missing_from_registry
from codemix_search.train.loop import train
from codemix_search.train.loop_config import loop_config
from tests.helpers import TINY


def test_chrf_orders_candidates_by_closeness():
    ref = "the quick brown fox jumps over the lazy dog"
    assert chrf(ref, ref) == pytest.approx(1.0)
    assert chrf("zzzz qqqq", ref) < 0.05
    assert chrf("", ref) == 0.0
    assert chrf(ref, ref) > chrf("the quick brown cat", ref) > chrf("a dog", ref)


@pytest.fixture(scope="module")
def models(tiny_data, tmp_path_factory):
    """(untrained, trained) tiny models and the tokenizer of the tiny dataset."""
    from transformers import AutoModelForCausalLM, PreTrainedTokenizerFast

    from codemix_search.train.model import build_model

    shares = {"code_fraction": 0.4, "synthetic_share": 0.3, "commit_share": 0.1}
    shares |= {"cooldown_code_fraction": 0.2, "init": "scratch"}
    cfg = loop_config(load_space(TINY), shares, tiny_data.uri, tiny_data.manifest, seed=0)
    cfg = cfg.replace(steps=120, evals=2, lr=0.006)
    keep = str(tmp_path_factory.mktemp("trained"))

    def report(metrics, checkpoint_dir=None):
        if checkpoint_dir and metrics["step"] == cfg.steps:
            shutil.copytree(checkpoint_dir, keep, dirs_exist_ok=True)

    train(cfg, report=report)
    local = materialize(tiny_data.uri, tiny_data.manifest)
    tok = PreTrainedTokenizerFast.from_pretrained(os.path.join(local, "tokenizer"))
    untrained = build_model("tiny", tiny_data.manifest.vocab_size, 64, seed=0).eval()
    trained = AutoModelForCausalLM.from_pretrained(keep).eval()
    return untrained, trained, tok, os.path.join(local, "eval")


def test_every_category_is_scored_and_training_changes_them(models):
    from codemix_search.evaluate.harness import evaluate

    untrained, trained, tok, eval_dir = models
    t0 = time.time()
    before = evaluate(untrained, tok, DEMO, eval_dir, limit=48)
    after = evaluate(trained, tok, DEMO, eval_dir, limit=48)
    cats_before, cats_after = DEMO.category_scores(before.tasks), DEMO.category_scores(after.tasks)
    assert (
        set(cats_before)
        == set(cats_after)
        == {
            "nl_reasoning",
            "world_knowledge",
            "code",
            "generative",
        }
    )
    assert all(0.0 <= v <= 1.0 for v in [*cats_before.values(), *cats_after.values()])
    # 120 CPU steps of a 0.4M model: most categories move (world knowledge may tie on 96 items;
    # the demo model's numbers, where all four move, are in the closing note).
    assert sum(cats_after[c] != cats_before[c] for c in cats_before) >= 3, (cats_before, cats_after)
    assert cats_after["generative"] > cats_before["generative"]  # it writes text, not noise
    gens = after.generations["demo_generative_samples"]
    assert 20 <= len(gens) <= 48 and all(
        {"prompt", "reference", "generation"} <= set(g) for g in gens
    )
    assert time.time() - t0 < 300


def test_no_eval_item_is_in_the_training_shards(tiny_data):
    from transformers import PreTrainedTokenizerFast

    local = materialize(tiny_data.uri, tiny_data.manifest)
    tok = PreTrainedTokenizerFast.from_pretrained(os.path.join(local, "tokenizer"))
    train_text = []
    for src in tiny_data.manifest.sources.values():
        arr = np.load(os.path.join(local, src["splits"]["train"]["file"]))
        train_text.append(" ".join(tok.decode(arr.tolist()).split()))
    train_text = "\n".join(train_text)
    checked = 0
    for task, fields in [
        ("demo_nl_reasoning", None),
        ("demo_code", None),
        ("demo_code_pass1", "prompt"),
        ("demo_generative", "reference"),
    ]:
        for line in open(os.path.join(local, "eval", f"{task}.jsonl")):
            item = json.loads(line)
            if fields is None:
                text = item["context"].rstrip() + " " + item["choices"][item["label"]]
            else:
                text = item[fields]
            text = " ".join(text.split())
            assert text not in train_text, (task, text[:80])
            checked += 1
    assert checked > 100


def test_code_scoring_runs_in_the_sandbox_and_survives_hostile_completions(tmp_path):
    doc = {
        "prompt": 'def add(a, b):\n    """Return a + b."""\n',
        "tests": "def check(candidate):\n    assert candidate(2, 3) == 5\n",
        "entry_point": "add",
    }
    assert demo_pass_at_1(doc, ["    return a + b\n"]) == {"pass@1": 1.0}
    assert demo_pass_at_1(doc, ["    return a - b\n"]) == {"pass@1": 0.0}
    victim = tmp_path / "victim.txt"
    victim.write_text("keep")
    hostile = [
        f"    import os\n    os.remove({str(victim)!r})\n    return a + b\n",
        "    import subprocess\n    subprocess.run(['sh', '-c', 'echo pwned'])\n    return a + b\n",
        "    import socket\n    socket.create_connection(('127.0.0.1', 80))\n    return a + b\n",
        "    while True:\n        pass\n",
    ]
    for completion in hostile:
        assert demo_pass_at_1(doc, [completion]) == {"pass@1": 0.0}
    assert victim.read_text() == "keep"
    # The completion is cut at the next top-level definition, as HumanEval does.
    assert demo_pass_at_1(doc, ["    return a + b\ndef evil():\n    while True: pass\n"]) == {
        "pass@1": 1.0
    }


@pytest.mark.slow
def test_paper_suite_names_resolve_in_the_installed_registry():
    assert missing_from_registry(PAPER) == []
    cats = PAPER.categories()
    assert set(cats) == {"nl_reasoning", "world_knowledge", "code"}
    assert len(PAPER.tasks_for("nl_reasoning")) == 10 == len(PAPER.tasks_for("nl_reasoning", "bpb"))
    assert len(PAPER.tasks_for("world_knowledge")) == 2
    assert [t.name for t in PAPER.tasks_for("code", "bpb")] == [
        "codemix_humaneval_bpb",
        "codemix_mbpp_bpb",
    ]


# Local stand-ins for the hub datasets (a few documents in each upstream task's own fields).
STAND_INS = {
    "codemix_boolq_bpb": [
        {
            "passage": "Paris is the capital of France.",
            "question": "is paris in france",
            "label": 1,
        },
        {"passage": "The sun is a star.", "question": "is the sun a planet", "label": 0},
    ],
    "codemix_arc_easy_bpb": [
        {
            "id": "1",
            "question": "Which is a liquid?",
            "choices": {"text": ["ice", "water", "rock"], "label": ["A", "B", "C"]},
            "answerKey": "B",
        }
    ],
    "codemix_winogrande_bpb": [
        {
            "sentence": "The trophy did not fit in the case because _ was too big.",
            "option1": "the trophy",
            "option2": "the case",
            "answer": "1",
        }
    ],
    "codemix_nq_open_bpb": [{"question": "capital of france", "answer": ["Paris", "paris"]}],
    "codemix_humaneval_bpb": [
        {
            "task_id": "t/0",
            "prompt": "def add(a, b):\n",
            "canonical_solution": "    return a + b\n",
            "test": "",
            "entry_point": "add",
        }
    ],
}


def test_paper_bpb_variants_resolve_offline_and_score_local_stand_ins(models, tmp_path):
    """Every gold-BPB variant of the paper suite resolves in lm-eval's registry (offline; the
    multiple-choice ones include the installed upstream YAML). A few, pointed at local stand-in
    data, score a tiny model; each item's bytes are those of the exact pair lm-eval scored."""
    import lm_eval
    import yaml
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    from codemix_search.core import bpb
    from codemix_search.evaluate.harness import item_values
    from codemix_search.evaluate.tasks import write_task_yamls

    out = str(tmp_path / "tasks")
    write_task_yamls(PAPER, None, out)
    variants = [t.name for t in PAPER.tasks if t.name.endswith("_bpb")]
    assert len(variants) == 14
    assert set(variants) <= set(TaskManager(include_path=out).all_tasks)
    for name, docs in STAND_INS.items():
        data = tmp_path / f"{name}.jsonl"
        data.write_text("".join(json.dumps(d) + "\n" for d in docs))
        files = {split: str(data) for split in ("train", "validation", "test")}
        stand_in = {
            "include": os.path.join(out, f"{name}.yaml"),
            "task": f"{name}_local",
            "dataset_path": "json",
            "dataset_name": None,
            "dataset_kwargs": {"data_files": files},
        }
        (tmp_path / "tasks" / f"{name}_local.yaml").write_text(yaml.safe_dump(stand_in))
    untrained, _, tok, _ = models
    res = lm_eval.simple_evaluate(
        model=HFLM(pretrained=untrained, tokenizer=tok, batch_size=4, device="cpu"),
        tasks=[f"{n}_local" for n in STAND_INS],
        task_manager=TaskManager(include_path=out, include_defaults=False),
        limit=4,
        log_samples=True,
    )
    for name in STAND_INS:
        task = f"{name}_local"
        value = res["results"][task]["gold_bpb,none"]
        assert 0 < value < 40, (task, value)
        items = item_values(res["samples"][task])["gold_bpb"]
        for sample, (ll, n_bytes) in zip(
            sorted(res["samples"][task], key=lambda s: s["doc_id"]), items, strict=True
        ):
            # The (context, continuation) whose log-likelihood is the gold's.
            lls = [float(r[0][0]) for r in sample["resps"]]
            pair = tuple(sample["arguments"][lls.index(ll)])[:2]
            assert n_bytes == bpb.scored_bytes(*pair), (task, pair, n_bytes)


# -- the judge ----------------------------------------------------------------------------------
class FakeChatCompletions(BaseHTTPRequestHandler):
    """A loopback stand-in for an OpenAI-compatible /chat/completions endpoint."""

    mode = "ok"
    seen: list = []

    def log_message(self, *args):
        pass

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).seen.append((self.path, self.headers.get("Authorization"), body))
        if self.mode == "slow":
            time.sleep(2)
        if self.mode == "http500":
            self.send_response(500)
            self.end_headers()
            return
        if self.mode == "malformed":
            payload = b"<html>not json</html>"
        else:
            text = body["messages"][1]["content"]
            first = text.split("\n\nA:\n", 1)[1].split("\n\nB:\n", 1)[0]
            # Prefers the longer continuation; "no verdict" mode rambles instead.
            verdict = "Hmm, hard to say" if self.mode == "noverdict" else "A"
            if self.mode == "ok" and len(first) < len(text.split("\n\nB:\n", 1)[1]):
                verdict = "B"
            payload = json.dumps({"choices": [{"message": {"content": verdict}}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(payload)


@pytest.fixture()
def judge_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeChatCompletions)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    FakeChatCompletions.seen = []
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def test_openai_judge_asks_both_orders_and_sends_the_key_from_the_environment(
    judge_server, monkeypatch
):
    monkeypatch.setenv("CM_TEST_JUDGE_KEY", "sk-test")
    FakeChatCompletions.mode = "ok"
    judge = OpenAIJudge(judge_server, model="m", api_key_env="CM_TEST_JUDGE_KEY", timeout_s=5)
    cand = [{"prompt": "p1", "generation": "a long and fluent answer"}]
    base = [{"prompt": "p1", "generation": "short"}]
    assert win_rate(judge, cand, base)["win_rate"] == 1.0
    assert win_rate(judge, base, cand)["win_rate"] == 0.0
    path, auth, body = FakeChatCompletions.seen[0]
    assert path == "/v1/chat/completions" and auth == "Bearer sk-test" and body["model"] == "m"
    assert len(FakeChatCompletions.seen) == 4  # two pairs, each asked in both orders


@pytest.mark.parametrize(
    "mode,message",
    [
        ("slow", "timed out after 0.5 s"),
        ("http500", "HTTP 500"),
        ("malformed", "malformed reply"),
        ("noverdict", "no verdict"),
    ],
)
def test_judge_failures_are_one_clear_error(judge_server, mode, message):
    FakeChatCompletions.mode = mode
    judge = OpenAIJudge(judge_server, timeout_s=0.5)
    with pytest.raises(JudgeError, match=message):
        judge.compare("p", "a", "b")


def test_unreachable_judge_and_reference_judge():
    with pytest.raises(JudgeError, match="unreachable"):
        OpenAIJudge("http://127.0.0.1:9/v1", timeout_s=2).compare("p", "a", "b")
    ref = ReferenceJudge()
    assert ref.compare("p", "the cat sat", "zzz", reference="the cat sat on the mat") == 1.0
    assert ref.compare("p", "same", "same", reference="x") == 0.5


def test_export_compares_with_the_baseline_and_survives_a_broken_judge(tmp_path, judge_server):
    import dataclasses

    from codemix_search.core.records import RankedTrial, TrialRecord
    from codemix_search.evaluate.baseline import compare_with_baseline, with_baseline_comparison
    from codemix_search.export.tables import trials_table
    from codemix_search.storage.folder import Folder

    space = load_space(TINY)
    run = Folder(str(tmp_path))
    gens = {
        "demo_generative_samples": [{"prompt": "p", "reference": "the cat sat", "generation": "x"}]
    }
    better = {
        "demo_generative_samples": [
            {"prompt": "p", "reference": "the cat sat", "generation": "the cat sat"}
        ]
    }
    run.child("trials", "base").write_json("generations.json", gens)
    run.child("trials", "t1").write_json("generations.json", better)
    cfg = {
        "code_fraction": 0.0,
        "synthetic_share": 0.1,
        "commit_share": 0.1,
        "cooldown_code_fraction": 0.0,
    }
    records = [
        TrialRecord(
            "base", "finished", cfg,
            objectives={"nl_reasoning": 0.5, "code": 0.2},
            metrics={"baseline": 1, "category/nl_reasoning": 0.5, "category/code": 0.2},
        ),
        TrialRecord(
            "t1", "finished", {**cfg, "code_fraction": 0.5},
            objectives={"nl_reasoning": 0.541, "code": 0.3},
            metrics={"baseline": 0, "category/nl_reasoning": 0.541, "category/code": 0.3},
        ),
    ]  # fmt: skip
    vs = compare_with_baseline(records, space, run)
    assert set(vs) == {"base", "t1"} and vs["t1"].baseline == "base"
    assert records[1].vs_baseline is None  # a new record carries it, the given one is unchanged
    rel = vs["t1"].relative
    assert rel["nl_reasoning"] == pytest.approx(0.082) and rel["code"] == pytest.approx(0.5)
    assert vs["t1"].win_rate["demo_generative_samples"]["win_rate"] == 1.0
    judged = with_baseline_comparison(records, space, run)
    rows = [RankedTrial(r, i + 1, True) for i, r in enumerate(judged)]
    # BPB objectives (lower is better): t1's 8.2% higher BPB reads -8.2%, the paper's sign
    assert vs["t1"].objectives["nl_reasoning"] == pytest.approx(-0.082)
    assert vs["t1"].better == "positive"
    assert "nl_reasoning -8.2%" in trials_table(rows, space)
    flipped = compare_with_baseline(
        [
            records[0],
            dataclasses.replace(records[1], objectives={"nl_reasoning": 0.459, "code": 0.1}),
        ],
        space,
        run,
    )
    assert flipped["t1"].objectives["nl_reasoning"] == pytest.approx(0.082)  # lower BPB: +
    FakeChatCompletions.mode = "malformed"
    broken = dataclasses.replace(
        space,
        evaluation=dataclasses.replace(space.evaluation, judge="openai", judge_url=judge_server),
    )
    vs = compare_with_baseline(records, broken, run)
    assert "malformed reply" in vs["t1"].win_rate["demo_generative_samples"]["error"]
    # a judged win-rate is kept when the trials are scored again (a resume): no second call
    again = compare_with_baseline(judged, broken, run)
    assert again["t1"].win_rate["demo_generative_samples"]["win_rate"] == 1.0


def test_task_weights_and_generative_prompts_configure_the_suite(tmp_path):
    import yaml as _yaml

    from codemix_search.config.load import parse_space
    from codemix_search.core.suites import suite_for
    from codemix_search.errors import ConfigError

    raw = _yaml.safe_load(open(TINY))
    raw["evaluation"] = {"task_weights": {"demo_code_pass1": 0.0, "demo_code": 2.0}}
    space = parse_space(raw, "t.yaml")
    suite = suite_for(space.evaluation)
    scores = {"demo_code": {"acc": 0.5}, "demo_code_pass1": {"pass@1": 1.0}}
    assert suite.category_scores(scores)["code"] == 0.5  # pass@1 weighted out
    raw["evaluation"] = {"task_weights": {"nope": 1.0}}
    with pytest.raises(ConfigError, match="task_weights.nope.*not a task"):
        parse_space(raw, "t.yaml")
    raw["evaluation"] = {"task_weights": {"demo_code": 0, "demo_code_bpb": 0}}
    with pytest.raises(ConfigError, match="objectives.1..metric.*no 'bpb' for code"):
        parse_space(raw, "t.yaml")  # pass@1 still scores code, but not its BPB
    raw["evaluation"] = {
        "task_weights": dict.fromkeys(("demo_code", "demo_code_bpb", "demo_code_pass1"), 0)
    }
    with pytest.raises(ConfigError, match="objectives.*category.*code"):
        parse_space(raw, "t.yaml")
    raw["evaluation"] = {"suite": "paper", "generative_prompts": str(tmp_path / "p.jsonl")}
    raw["early_stopping"]["metric"] = "val_loss"  # the paper's items are not on the workers
    raw["objectives"] = [
        {"name": "gen", "category": "generative"},
        {"name": "nl", "category": "nl_reasoning"},
    ]
    paper = suite_for(parse_space(raw, "t.yaml").evaluation)
    assert paper.task("codemix_generative").generations and "generative" in paper.categories()


@pytest.mark.slow
def test_paper_generative_task_runs_on_the_users_prompts(models, tmp_path):
    import dataclasses

    from codemix_search.core.suites import PAPER, TaskSpec
    from codemix_search.evaluate.harness import evaluate

    prompts = tmp_path / "dolly.jsonl"
    prompts.write_text(
        "".join(
            json.dumps({"prompt": f"Explain item {i}.", "reference": "It is a thing."}) + "\n"
            for i in range(3)
        )
    )
    suite = dataclasses.replace(
        PAPER,
        tasks=(
            *PAPER.tasks,
            TaskSpec("codemix_generative", "generative", "chrf", generations=True),
        ),
    )
    _, trained, tok, _ = models
    out = evaluate(
        trained,
        tok,
        suite,
        None,
        limit=3,
        tasks=["codemix_generative"],
        generative_prompts=str(prompts),
    )
    assert 0.0 <= out.tasks["codemix_generative"]["chrf"] <= 1.0
    assert len(out.generations["codemix_generative"]) == 3


def test_task_limits_bound_each_task_separately(models):
    from codemix_search.config.load import load_space as _load
    from codemix_search.errors import ConfigError
    from codemix_search.evaluate.harness import evaluate

    untrained, _, tok, eval_dir = models
    out = evaluate(
        untrained,
        tok,
        DEMO,
        eval_dir,
        limit=8,
        tasks=["demo_code", "demo_nl_reasoning"],
        task_limits={"demo_code": 3},
    )
    assert out.tasks["demo_code"]["sample_len"] == 3
    assert out.tasks["demo_nl_reasoning"]["sample_len"] == 8
    with pytest.raises(ConfigError, match="task_limits.nope"):
        _load(TINY, ["evaluation.task_limits={nope: 3}"])
    with pytest.raises(ConfigError, match="task_limits.demo_code.*integer"):
        _load(TINY, ["evaluation.task_limits={demo_code: 0}"])
