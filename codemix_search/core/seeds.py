"""Seeds are derived, not chosen: (study seed, trial key, purpose) -> a 31-bit integer."""

from __future__ import annotations

import hashlib


def derive_seed(study_seed: int, *keys: object) -> int:
    """Deterministic, well-spread seed; e.g. derive_seed(0, "trial-3", "data")."""
    text = "/".join([str(study_seed), *map(str, keys)])
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big") & 0x7FFFFFFF
