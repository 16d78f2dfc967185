"""JSON that any parser reads: ``allow_nan=False`` always holds (pure).

A value that is not a finite number (NaN, inf: a fit that did not converge, a budget with no
device) is written as ``null``, and the top-level object says where and why under
``"non_finite"`` (``{"path.to.key": "nan"}``), so a program reading the output is never handed
``NaN`` / ``Infinity`` (not JSON) or a silent null."""

from __future__ import annotations

import json
import math
from typing import Any


def strict_json(obj: Any, **dumps_kwargs) -> str:
    where: dict[str, str] = {}

    def clean(x, path: str):
        if isinstance(x, float) and not math.isfinite(x):
            where[path or "."] = "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")
            return None
        if isinstance(x, dict):
            return {k: clean(v, f"{path}.{k}" if path else str(k)) for k, v in x.items()}
        if isinstance(x, list | tuple):
            return [clean(v, f"{path}[{i}]") for i, v in enumerate(x)]
        return x

    out = clean(obj, "")
    if where and isinstance(out, dict):
        out["non_finite"] = where
    return json.dumps(out, allow_nan=False, **dumps_kwargs)
