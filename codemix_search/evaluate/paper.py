"""Gold-answer BPB variants of the paper suite's lm-eval tasks (``codemix_<task>_bpb``).

- Multiple choice (BoolQ, PIQA, SciQ, SocialIQA, CB, COPA, StoryCloze, HellaSwag, Winogrande,
  ARC-Easy): the upstream task itself (``include:`` of its YAML in the installed lm-eval, so its
  dataset, prompt and choices are upstream's), scored by our ``process_results``: accuracy,
  Brier and the gold choice's BPB in cloze form (context, then the correct choice's text).
- QA (NaturalQuestions-Open, TriviaQA) and code (HumanEval, MBPP): a loglikelihood task over the
  upstream dataset and prompt whose target is the first gold answer / the reference solution.

Our ``process_results`` receives only the document, so it renders the prompt and the choices
with the upstream config the way lm-eval's ``ConfigurableTask`` does (a feature name, a Jinja
template, a list, or a function), then counts the bytes of exactly the scored string
(core/bpb.py).
"""

from __future__ import annotations

import ast
import functools

import yaml

from codemix_search.core import bpb

MC_TASKS = (
    "boolq", "piqa", "sciq", "social_iqa", "cb", "copa", "storycloze_2016", "hellaswag",
    "winogrande", "arc_easy",
)  # fmt: skip
HUMANEVAL_PROMPT = "{{prompt}}"
MBPP_PROMPT = (
    "You are an expert Python programmer, and here is your task: {{text}} Your code should pass "
    "these tests:\n\n{{test_list[0]}}\n{{test_list[1]}}\n{{test_list[2]}}\n[BEGIN]\n"
)
# Reference variants: upstream task, prompt template, gold-answer template.
REFERENCE = {
    "nq_open": ("nq_open", "Q: {{question}}?\nA:", "{{' ' + answer[0]}}"),
    "triviaqa": ("triviaqa", "Question: {{question}}?\nAnswer:", "{{' ' + answer.value}}"),
    "humaneval": ("humaneval", HUMANEVAL_PROMPT, "{{canonical_solution}}"),
    "mbpp": ("mbpp", MBPP_PROMPT, "{{code}}"),
}


def variant(task: str) -> str:
    return f"codemix_{task}_bpb"


@functools.lru_cache(maxsize=1)
def _index() -> dict:
    # imported here, not at the top: lm-eval's tasks and HF model: 1-2.5 s
    from lm_eval.tasks import TaskManager

    return {name: str(e.yaml_path) for name, e in TaskManager().task_index.items() if e.yaml_path}


def upstream_yaml(task: str) -> str:
    return _index()[task]


@functools.cache
def upstream_config(task: str, resolve_functions: bool = True) -> dict:
    # imported here, not at the top: lm-eval's tasks and HF model: 1-2.5 s
    from lm_eval.tasks._yaml_loader import load_yaml

    return load_yaml(upstream_yaml(task), resolve_func=resolve_functions)


def _render(spec, doc: dict, literal: bool = False):
    """A doc_to_text / doc_to_target / doc_to_choice value for one document, as lm-eval does."""
    # imported here, not at the top: lm-eval's tasks and HF model: 1-2.5 s
    from lm_eval.utils import apply_template

    if isinstance(spec, (int, list)):
        return spec
    if isinstance(spec, dict):
        return list(spec.values())
    if callable(spec):
        return spec(doc)
    if spec in doc:
        return doc[spec]
    text = apply_template(spec, doc)
    if literal:
        return ast.literal_eval(text)
    if text.isdigit():
        return int(text)
    return text


def mc_pairs(cfg: dict, doc: dict) -> tuple[list[tuple[str, str]], int, list[str]]:
    """The (context, continuation) lm-eval scores per choice, the gold index and the choices."""
    delimiter = cfg.get("target_delimiter", bpb.DELIMITER)
    text = _render(cfg["doc_to_text"], doc)
    choices = _render(cfg["doc_to_choice"], doc, literal=True)
    target = _render(cfg["doc_to_target"], doc)
    description = _render(cfg["description"], doc) if cfg.get("description") else ""
    if isinstance(text, int):  # multiple inputs (Winogrande): the choices are the contexts
        return [(description + c, delimiter + str(target)) for c in choices], text, choices
    gold = target if isinstance(target, int) else choices.index(target)
    return [(description + text, delimiter + c) for c in choices], gold, choices


def multiple_choice(task: str, doc: dict, results) -> dict:
    pairs, gold, choices = mc_pairs(upstream_config(task), doc)
    out = bpb.multiple_choice(pairs[gold][0], choices, gold, results)
    # Counted on the exact pair lm-eval scored (its delimiter, or Winogrande's partial context).
    out["gold_bpb"] = (float(results[gold][0]), bpb.scored_bytes(*pairs[gold]))
    return out


def reference(task: str, doc: dict, results) -> dict:
    # imported here, not at the top: lm-eval's tasks and HF model: 1-2.5 s
    from lm_eval.utils import apply_template

    _, text, target = REFERENCE[task]
    return {
        "gold_bpb": bpb.reference(apply_template(text, doc), apply_template(target, doc), results)[
            "gold_bpb"
        ]
    }


def process_results_for(name: str):
    """The ``process_results`` of variant ``name`` (codemix_<task>_bpb)."""
    task = name.removeprefix("codemix_").removesuffix("_bpb")
    if task in MC_TASKS:
        return functools.partial(multiple_choice, task)
    return functools.partial(reference, task)


def variant_yamls() -> dict[str, str]:
    """{variant: YAML text}: every paper-suite BPB variant (lm-eval's ``!function`` tag is
    appended as text; ``yaml.safe_dump`` cannot write it)."""
    out = {}
    for task in MC_TASKS:
        spec = {
            "include": upstream_yaml(task),
            "task": variant(task),
            "metric_list": bpb.metric_list("acc", "acc_norm", "brier_score", "gold_bpb"),
        }
        out[variant(task)] = _with_function(yaml.safe_dump(spec, sort_keys=False), variant(task))
    for task, (upstream, text, target) in REFERENCE.items():
        cfg = upstream_config(upstream, resolve_functions=False)
        spec = {
            "task": variant(task),
            "dataset_path": cfg["dataset_path"],
            **({"dataset_name": cfg["dataset_name"]} if cfg.get("dataset_name") else {}),
            **{k: cfg[k] for k in ("test_split", "validation_split") if cfg.get(k)},
            "output_type": "loglikelihood",
            "doc_to_text": text,
            "doc_to_target": target,
            "metric_list": bpb.metric_list("gold_bpb"),
            "metadata": {"version": 1},
        }
        out[variant(task)] = _with_function(yaml.safe_dump(spec, sort_keys=False), variant(task))
    return out


def _with_function(text: str, name: str) -> str:
    return text + f"process_results: !function codemix_metrics.{name}\n"


def shim_lines() -> str:
    """Lines for the metrics shim: one process_results per variant."""
    names = [variant(t) for t in (*MC_TASKS, *REFERENCE)]
    return "from codemix_search.evaluate.paper import process_results_for\n" + "".join(
        f"{n} = process_results_for({n!r})\n" for n in names
    )
