"""Every lm-eval task YAML a run scores with: the demo suite's local tasks, the paper suite's
executed-code variants and its generative prompts. Written into one folder that lm-eval's
``TaskManager(include_path=...)`` reads."""

from __future__ import annotations

import os
import shutil
import tempfile

import fsspec
import yaml

from codemix_search.core.suites import UPSTREAM, Suite
from codemix_search.demo import eval_items as demo_suite
from codemix_search.evaluate import paper
from codemix_search.evaluate import scorers as metrics
from codemix_search.storage.folder import Folder


def _generative_yaml(prompts_uri: str, out_dir: str, located_at: str | None = None) -> None:
    """The paper's generative category on the user's prompts (e.g. Dolly-200: ``prompt`` and a
    ``reference`` answer per line): greedy answers, chrF against the reference in the search,
    win-rate against the baseline judged afterwards."""
    local = os.path.join(out_dir, "codemix_generative.jsonl")
    with fsspec.open(prompts_uri, "rb", compression="infer") as src, open(local, "wb") as dst:
        dst.write(src.read())
    spec = {
        "task": "codemix_generative",
        "dataset_path": "json",
        "dataset_kwargs": {"data_files": {"test": _located(local, out_dir, located_at)}},
        "test_split": "test",
        "output_type": "generate_until",
        "doc_to_text": "{{prompt}}",
        "doc_to_target": "",
        "generation_kwargs": {"until": ["\n\n\n"], "max_gen_toks": 256, "do_sample": False},
        "metric_list": [{"metric": "chrf", "aggregation": "mean", "higher_is_better": True}],
        "metadata": {"version": 1},
    }
    text = yaml.safe_dump(spec, sort_keys=False)
    text += "process_results: !function codemix_metrics.demo_generative_samples\n"
    with open(os.path.join(out_dir, "codemix_generative.yaml"), "w") as f:
        f.write(text)


def registry_names(suite: Suite) -> list[str]:
    """The lm-eval registry names a suite relies on (our code variants map to upstream; our
    generative task is generated, not registered)."""
    return [UPSTREAM.get(t.name, t.name) for t in suite.tasks if t.name != "codemix_generative"]


def missing_from_registry(suite: Suite, task_manager=None) -> list[str]:
    """Names the installed lm-eval does not know (indexing only: no dataset is downloaded)."""
    # imported here, not at the top: lm-eval's tasks and HF model: 1-2.5 s
    from lm_eval.tasks import TaskManager

    tm = task_manager or TaskManager()
    known = set(tm.all_tasks)
    return [n for n in registry_names(suite) if n not in known]


def _code_variant_yamls(out_dir: str) -> None:
    """HumanEval / MBPP with lm-eval's datasets and prompts, scored by process_results that
    run each completion in our sandbox (upstream uses HF evaluate's code_eval, unsandboxed)."""
    specs = {
        "codemix_humaneval": {
            "dataset_path": "openai/openai_humaneval",
            "test_split": "test",
            "doc_to_text": "{{prompt}}",
            "doc_to_target": "{{test}}",
            "generation_kwargs": {
                "until": ["\nclass", "\ndef", "\n#", "\nif", "\nprint"],
                "max_gen_toks": 512,
                "do_sample": False,
            },
            "process_results": "!function codemix_metrics.humaneval_pass_at_1",
            "metric": "pass@1",
        },
        "codemix_mbpp": {
            "dataset_path": "google-research-datasets/mbpp",
            "dataset_name": "full",
            "test_split": "test",
            "doc_to_text": "You are an expert Python programmer, and here is your task: {{text}} "
            "Your code should pass these tests:\n\n{{test_list[0]}}\n{{test_list[1]}}\n"
            "{{test_list[2]}}\n[BEGIN]\n",
            "doc_to_target": "{{code}}",
            "generation_kwargs": {"until": ["[DONE]"], "max_gen_toks": 512, "do_sample": False},
            "process_results": "!function codemix_metrics.mbpp_pass_at_1",
            "metric": "pass_at_1",
        },
    }
    for task, spec in specs.items():
        metric = spec.pop("metric")
        fn = spec.pop("process_results")
        doc = {
            "task": task,
            **spec,
            "output_type": "generate_until",
            "metric_list": [{"metric": metric, "aggregation": "mean", "higher_is_better": True}],
            "metadata": {"version": 1},
        }
        text = yaml.safe_dump(doc, sort_keys=False)
        # `!function` is lm-eval's YAML tag; safe_dump cannot emit it, so it is appended.
        text += f"process_results: {fn}\n"
        with open(os.path.join(out_dir, f"{task}.yaml"), "w") as f:
            f.write(text)


def _located(path: str, out_dir: str, located_at: str | None) -> str:
    """``path`` (inside ``out_dir``) as it will be read: from ``located_at`` when the folder is
    built elsewhere first (a temporary folder published into a run)."""
    if not located_at:
        return os.path.abspath(path)
    rel = os.path.relpath(path, out_dir)
    if "://" in located_at:
        return f"{located_at.rstrip('/')}/{rel}"
    return os.path.join(os.path.abspath(located_at), rel)


def write_task_yamls(
    suite: Suite,
    eval_dir: str | None,
    out_dir: str,
    generative_prompts: str | None = None,
    located_at: str | None = None,
) -> list[str]:
    """Task YAMLs (and the metrics shim) for ``suite`` into ``out_dir``; returns the task names
    to pass to lm-eval. ``located_at``: where ``out_dir`` will be read from, if elsewhere."""
    os.makedirs(out_dir, exist_ok=True)
    metrics.write_shim(out_dir)
    if suite.name == "demo":
        if not eval_dir:
            raise ValueError("the demo suite needs the dataset's eval items")
        demo_suite.write_task_yamls(eval_dir, out_dir)
    else:
        _code_variant_yamls(out_dir)
        if "codemix_generative" in suite.names:
            _generative_yaml(generative_prompts, out_dir, located_at)
        _bpb_variant_yamls(suite, out_dir)
    return suite.names


def _bpb_variant_yamls(suite: Suite, out_dir: str) -> None:
    """The gold-BPB variants the suite uses (evaluate/paper.py), and their process_results in the
    metrics shim."""
    wanted = [n for n in suite.names if n.endswith("_bpb")]
    if not wanted:
        return
    yamls = paper.variant_yamls()
    for name in wanted:
        with open(os.path.join(out_dir, f"{name}.yaml"), "w") as f:
            f.write(yamls[name])
    with open(os.path.join(out_dir, "codemix_metrics.py"), "a") as f:
        f.write(paper.shim_lines())


def keep_tasks(
    suite: Suite, eval_dir: str | None, tasks: Folder, generative_prompts: str | None = None
) -> list[str]:
    """The task files a run scores with, kept in the run (``<run>/tasks``): the metrics shim, a
    YAML per task and (demo suite) the items they read, whose paths name the folder where it
    lives, so ``lm_eval --model hf --model_args pretrained=<checkpoint> --include_path
    <run>/tasks --tasks <name>`` scores a checkpoint as the search did. All or nothing."""
    with tempfile.TemporaryDirectory(prefix="codemix-keep-tasks-") as tmp:
        if eval_dir:
            for name in sorted(os.listdir(eval_dir)):
                if name.endswith(".jsonl"):
                    shutil.copyfile(os.path.join(eval_dir, name), os.path.join(tmp, name))
        where = tasks.local_path() if tasks.is_local else tasks.uri
        names = write_task_yamls(
            suite, where if eval_dir else None, tmp, generative_prompts, located_at=where
        )
        tasks.publish_from(tmp, {"located_at": where, "tasks": names})
    return names


def relocate_tasks(tasks: Folder) -> bool:
    """After a run folder was copied or moved: point its task YAMLs at where they are now.
    Returns whether anything changed."""
    if not tasks.is_complete():
        return False
    info = tasks.read_json("_SUCCESS")
    old, new = info.get("located_at"), tasks.local_path() if tasks.is_local else tasks.uri
    if not old or old == new:
        return False
    for name in tasks.listdir():
        if name.endswith(".yaml"):
            text = tasks.read_text(name).replace(old.rstrip("/") + "/", new.rstrip("/") + "/")
            tasks.write_text(name, text)
    tasks.mark_success({**info, "located_at": new})
    return True
