"""codemix_search: multi-objective search over text/code pre-training data mixtures.

The research behind it (Aryabumi et al. 2024, "To Code, or Not To Code?") found that code in
pre-training lifts non-code tasks. This package turns the paper's hand-made grid of runs into a
Ray Tune + Optuna search whose trials are early-stopped Ray Train jobs scored with lm-eval.
"""

__version__ = "0.1.0"
