"""Fixtures the trainer-export tests share (tests/integration/consumer_env.py has the helpers)."""

from __future__ import annotations

import pytest

from tests.integration.consumer_env import consumer_python_path, run_with_recipes


@pytest.fixture(scope="module")
def consumer_python() -> str:
    """The consumer venv's python (megatron-core, ai2-olmo-core, mosaicml-streaming)."""
    return consumer_python_path()


@pytest.fixture(scope="module")
def run(tiny_data, tmp_path_factory):
    """A run folder with recipes on the tiny demo data (records as the search writes them)."""
    return run_with_recipes(tiny_data, str(tmp_path_factory.mktemp("run")))
