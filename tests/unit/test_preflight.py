"""Checks a valid space can still fail on this machine, made before a trial starts."""

import dataclasses

import pytest

from codemix_search import preflight
from codemix_search.config.load import load_space
from codemix_search.core.plan import plan_resources
from codemix_search.data.dataset import DataManifest
from codemix_search.errors import ConfigError
from tests.helpers import TINY


def _manifest(val_tokens: int, train_tokens: int = 10_000) -> DataManifest:
    splits = {"val": {"tokens": val_tokens}, "train": {"tokens": train_tokens}}
    sources = {"code": {"splits": splits}, "text": {"splits": splits}}
    return DataManifest(sources=sources, vocab_size=2048, eos_id=0, tokenizer_sha256="t")


def test_a_sequence_longer_than_a_validation_split_is_one_line():
    space = load_space(TINY)  # seq_len 64
    preflight.check_validation_splits(space, _manifest(64))
    with pytest.raises(ConfigError, match="training.seq_len.*code's val split \\(63 tokens\\)"):
        preflight.check_validation_splits(space, _manifest(63))
    with pytest.raises(ConfigError, match="train split"):
        preflight.check_validation_splits(space, _manifest(500, train_tokens=64))


def test_gpu_trials_on_the_embedded_cpu_cluster_are_refused_not_left_waiting():
    space = load_space(TINY)
    space = dataclasses.replace(space, training=dataclasses.replace(space.training, use_gpu="true"))
    cpu_only = {"CPU": 2.0, "trial_driver": 2.0}
    plan = plan_resources(cpu_only, 1, 1, "true", 2)
    with pytest.raises(ConfigError, match="training.use_gpu.*no GPU"):
        preflight.check_cluster(space, plan, True, cpu_only)
    preflight.check_cluster(space, plan, False, cpu_only)  # a joined cluster may autoscale GPUs
    preflight.check_cluster(space, plan, True, {**cpu_only, "GPU": 1.0})


def test_storage_checks(tmp_path, monkeypatch):
    preflight.check_storage(preflight.Folder(str(tmp_path / "new" / "runs")))
    assert not (tmp_path / "new").exists()  # the write probe leaves nothing
    (tmp_path / "f").write_text("x")
    with pytest.raises(ConfigError, match="is a file"):
        preflight.check_storage(preflight.Folder(str(tmp_path / "f" / "runs")))
    with pytest.raises(ConfigError, match="memory://"):
        preflight.check_storage(preflight.Folder("memory://runs"))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "k")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s")
    preflight.check_storage(preflight.Folder("s3://bucket/runs"))  # not contacted here
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(ConfigError, match="no S3 credentials found"):
        preflight.check_storage(preflight.Folder("s3://bucket/runs"))
