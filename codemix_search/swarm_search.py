"""``search.strategy: swarm``: stage 1 (proxies at a small size), the fit and the proposals,
stage 2 (the proposals and the baseline at the space's size), then predicted vs measured in
``<run>/swarm.json``. Each stage is a whole run through ``pipeline.execute`` (its own data,
bases, trials, report and recipes): the proxies in ``<storage>/<name>-proxies``, the
confirmations in ``<storage>/<name>``.

Rerunning the same command after stage 1 was cut continues stage 1 (its run folder is there,
unfinished); ``--resume --name NAME`` after stage 2 was cut continues stage 2 with the
proposals already made (``swarm_proposals.json``).
"""

from __future__ import annotations

import dataclasses

from codemix_search.analysis.confirm import Proposal, compare, fit_objectives, propose
from codemix_search.analysis.swarm_readers import read_run
from codemix_search.config.load import load_space
from codemix_search.config.strategy import confirm_space, proxy_space
from codemix_search.core.records import TrialStatus
from codemix_search.export.recipes import load_run
from codemix_search.pipeline import Request, execute
from codemix_search.storage.layout import RunLayout

PROPOSALS = "swarm_proposals.json"
RESULT = "swarm.json"


def execute_swarm(req: Request, address: str | None) -> int:
    space, run = req.space, req.run
    if run.exists(PROPOSALS):  # stage 2 was cut: continue it with its proposals
        made = run.read_json(PROPOSALS)
        rc = execute(req, address)
        return rc or _compare(req, made)
    proxy_run = req.storage.child(f"{req.name}-proxies")
    if not proxy_run.is_complete():
        again = proxy_run.exists(RunLayout.SPACE)
        stage1 = dataclasses.replace(
            req, run=proxy_run, name=f"{req.name}-proxies", resume=again,
            space=load_space(proxy_run.file(RunLayout.SPACE)) if again else proxy_space(space),
        )  # fmt: skip
        print(f"codemix_search: swarm stage 1: {space.search.proxies} proxies at "
              f"{space.search.proxy_model} in {proxy_run.uri}")  # fmt: skip
        rc = execute(stage1, address)
        if rc:
            return rc
    swarm = read_run(proxy_run.uri)
    fits = fit_objectives(space, swarm, seed=space.seed)
    proposals = propose(space, swarm, fits, space.search.confirm, seed=space.seed)
    made = {
        "proxies": proxy_run.uri,
        "proxy_model": space.search.proxy_model,
        "fits": {f.name: {"regressor": f.regressor, "oof_spearman": f.oof_spearman} for f in fits},
        "proposals": [dataclasses.asdict(p) for p in proposals],
    }
    run.write_json(PROPOSALS, made)
    stage2 = confirm_space(space, [p.config for p in proposals])
    print(f"codemix_search: swarm stage 2: {len(proposals)} proposals (and the baseline) at "
          f"{space.training.model} in {run.uri}")  # fmt: skip
    rc = execute(dataclasses.replace(req, space=stage2), address)
    return rc or _compare(req, made, fits)


def _compare(req: Request, made: dict, fits=None) -> int:
    """Predicted vs measured at the larger size, into ``<run>/swarm.json`` and the console."""
    # (stage 2's space on a resume: the same objectives, parameters and mixture as the swarm's)
    space = req.space
    swarm = read_run(made["proxies"])
    # (refit only on a resume: the same seed gives the fits the proposals came from)
    fits = fits or fit_objectives(space, swarm, seed=space.seed)
    proposals = [Proposal(**p) for p in made["proposals"]]
    measured = [
        {"trial_id": r.trial_id, "config": r.config, "objectives": r.objectives}
        for r in load_run(req.run)
        if r.status is TrialStatus.FINISHED and r.objectives
    ]
    result = compare(space, swarm, fits, proposals, measured)
    req.run.write_json(
        RESULT, {**{k: made[k] for k in ("proxies", "proxy_model", "fits")}, **result}
    )
    print(f"swarm: predicted at {made['proxy_model']} vs measured at {space.training.model} "
          f"({RESULT}):")  # fmt: skip
    for name, o in result["objectives"].items():
        rho = "-" if o["spearman"] is None else f"{o['spearman']:.2f}"
        print(f"  {name}: shift {o['shift']:+.3f} (se {o['shift_se'] or 0:.3f}), "
              f"error after the shift {o['mean_abs_error_after_shift']:.3f}, Spearman {rho} over "
              f"{o['points']} points ({o['regressor']}, out-of-fold {o['oof_spearman_at_proxy_size']:.2f} at the proxy size)")  # fmt: skip
    return 0
