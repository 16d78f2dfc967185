"""Evaluation through lm-eval: suites, task YAMLs, category scores."""
