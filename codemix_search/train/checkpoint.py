"""Checkpoints of the training loop: save (transformers' safetensors + optimizer + loop state),
load weights into a model of the same shape, fetch a remote model folder once per machine, and
the trial's curve.jsonl."""

from __future__ import annotations

import hashlib
import json
import os

from codemix_search.data.dataset import cache_root
from codemix_search.data.pack import portable_tokenizer
from codemix_search.errors import ConfigError
from codemix_search.storage.folder import Folder, is_complete_dir
from codemix_search.storage.layout import TrialLayout


def _unwrap(model):
    model = getattr(model, "_orig_mod", model)  # torch.compile
    return getattr(model, "module", model)  # DDP


def save_checkpoint(d: str, model, opt, state: dict, tokenizer_dir: str | None = None) -> None:
    """Model (safetensors, loadable by transformers), optimizer and loop state; with
    ``tokenizer_dir``, the tokenizer too: the folder is a self-contained HF model that
    ``AutoTokenizer`` / ``AutoModelForCausalLM`` and lm-eval's ``pretrained=`` load as it is."""
    # imported here, not at the top: torch: 1.4 s to import
    import torch

    _unwrap(model).save_pretrained(d, safe_serialization=True)
    if tokenizer_dir:
        portable_tokenizer(tokenizer_dir, d)
    torch.save(opt.state_dict(), os.path.join(d, "optimizer.pt"))
    with open(os.path.join(d, "state.json"), "w") as f:
        json.dump(state, f)


def load_weights(model, model_dir: str) -> None:
    """Load a saved model's weights into ``model`` (same size and vocabulary, else one line)."""
    # imported here, not at the top: safetensors.torch: 1.1 s (torch)
    from safetensors.torch import load_file

    path = os.path.join(model_dir, "model.safetensors")
    if not os.path.exists(path):
        raise ConfigError(model_dir, "init", "no model.safetensors: give a saved model folder")
    weights = load_file(path)
    ours = model.state_dict()
    for name, tensor in weights.items():
        if name in ours and ours[name].shape != tensor.shape:
            raise ConfigError(
                model_dir,
                name,
                f"shape {tuple(tensor.shape)} does not match this model's "
                f"{tuple(ours[name].shape)}: the init must have the same size and vocabulary",
            )
    missing, unexpected = model.load_state_dict(weights, strict=False)
    # Tied input/output embeddings are saved once; anything else missing is a wrong checkpoint.
    if unexpected or set(missing) - {"lm_head.weight"}:
        raise ConfigError(
            model_dir, "init", f"weights do not fit this model (missing {missing[:3]}...)"
        )
    if "lm_head.weight" in missing:
        model.tie_weights()


def copy_files(src: Folder, dst: Folder, names) -> None:
    """Copy ``names`` from one checkpoint folder to another, each atomically; a local source
    is streamed (a multi-GB model is never read into memory), a remote one read and written."""
    for name in names:
        if src.is_local:
            dst.upload(os.path.join(src.local_path(), name), name)
        else:
            dst.write_bytes(name, src.read_bytes(name))


def fetch_model(uri: str) -> str:
    """A local folder holding the model at ``uri`` (downloaded once per machine when remote)."""
    folder = Folder(uri)
    if folder.is_local:
        return folder.local_path()
    key = hashlib.sha256(uri.encode()).hexdigest()[:16]
    local = os.path.join(cache_root(), "models", key)
    if not (is_complete_dir(local) and os.path.exists(os.path.join(local, "model.safetensors"))):
        folder.fetch_to(local, [n for n in folder.listdir() if n != "_SUCCESS"])
    return local


def record_curve(folder: Folder, metrics: dict) -> None:
    """Append one report to ``curve.jsonl`` (what ``codemix_search replay`` checks against);
    a restarted worker first drops the lines it is about to redo."""
    keep = []
    if folder.exists(TrialLayout.CURVE):
        keep = [
            x
            for x in folder.read_text(TrialLayout.CURVE).splitlines()
            if x.strip() and json.loads(x)["step"] < metrics["step"]
        ]
    row = {k: v for k, v in metrics.items() if isinstance(v, (int, float, str)) or v is None}
    folder.write_text(TrialLayout.CURVE, "".join(x + "\n" for x in [*keep, json.dumps(row)]))
