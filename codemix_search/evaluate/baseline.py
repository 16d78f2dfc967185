"""Each finished trial against the run's baseline trial: the relative change of every category
score and objective (the paper's +8.2% format) and the judged generative win-rate. A scoring
stage: the pipeline runs it once the trials are scored, before the export, which only writes
what it finds on the records (an export never calls the judge)."""

from __future__ import annotations

from codemix_search.config.space import SearchSpace
from codemix_search.core.records import TrialRecord, VsBaseline
from codemix_search.core.suites import suite_for
from codemix_search.evaluate.judge import JudgeError, make_judge, win_rate
from codemix_search.storage.folder import Folder
from codemix_search.storage.layout import RunLayout, TrialLayout


def _generations(run: Folder, trial_id: str) -> dict:
    try:
        return RunLayout(run).trial(trial_id).folder.read_json(TrialLayout.GENERATIONS)
    except FileNotFoundError:
        return {}


def _relative(r: TrialRecord, base: TrialRecord, space: SearchSpace) -> tuple[dict, dict]:
    """(category -> relative change, objective -> relative change with + = better)."""
    categories = {}
    for key, value in r.metrics.items():
        if key.startswith("category/") and key in base.metrics:
            b = base.metrics[key]
            categories[key.split("/", 1)[1]] = (value - b) / abs(b) if b else None
    objectives = {
        # A BPB 13.4% lower than the baseline's reads +13.4%: positive is better in any mode.
        o.name: (1.0 if o.mode == "max" else -1.0)
        * (r.objectives[o.name] - base.objectives[o.name])
        / abs(base.objectives[o.name])
        if base.objectives.get(o.name)
        else None
        for o in space.objectives
        if o.name in r.objectives and o.name in base.objectives
    }
    return categories, objectives


def compare_with_baseline(
    records: list[TrialRecord], space: SearchSpace, run: Folder
) -> dict[str, VsBaseline]:
    """Trial id -> its comparison, for every finished record; empty when no baseline trial
    finished. A win-rate the judge already gave against the same baseline is kept (a resumed
    run does not pay the judge twice)."""
    finished = [r for r in records if r.finished]
    base = next((r for r in finished if r.is_baseline), None)
    if base is None:
        return {}
    judged = [t.name for t in suite_for(space.evaluation).tasks if t.generations]
    judge = make_judge(space.evaluation)
    base_gens = _generations(run, base.trial_id)
    out = {}
    for r in finished:
        categories, objectives = _relative(r, base, space)
        before = (
            r.vs_baseline if r.vs_baseline and r.vs_baseline.baseline == base.trial_id else None
        )
        rates = {}
        if (
            r is not base
            and before
            and not before.judge_failed
            and set(before.win_rate) == set(judged)
        ):
            rates = before.win_rate
        elif r is not base:
            gens = _generations(run, r.trial_id)
            for task in judged:
                try:
                    rates[task] = win_rate(judge, gens.get(task, []), base_gens.get(task, []))
                except JudgeError as e:
                    rates[task] = {"error": str(e)}
        out[r.trial_id] = VsBaseline(base.trial_id, categories, objectives, rates)
    return out


def with_baseline_comparison(
    records: list[TrialRecord], space: SearchSpace, run: Folder
) -> list[TrialRecord]:
    """The records, each finished one carrying its ``vs_baseline``."""
    vs = compare_with_baseline(records, space, run)
    return [r.with_export(vs_baseline=vs.get(r.trial_id, r.vs_baseline)) for r in records]
