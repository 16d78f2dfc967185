"""Generative win-rate against the baseline, judged pairwise (the paper's fourth category).

For every prompt both models answered, a judge says which generation is better; the win-rate is
(wins + ties / 2) / pairs. Judges:
- ``ReferenceJudge`` (offline default): the generation with the higher chrF against the true
  continuation wins (ties within 1e-9).
- ``OpenAIJudge``: any OpenAI-compatible ``/chat/completions`` endpoint (vLLM, TGI, a hosted
  model). Each pair is asked in both orders to cancel the judge's position bias. The API key is
  read from an environment variable named in the space file, never logged or recorded. A
  timeout, an HTTP error or a reply that is not a verdict raises ``JudgeError`` with one clear
  line; the report then shows the error instead of a win-rate, and the search is unaffected.
"""

from __future__ import annotations

import json
import os
import re
import socket
import urllib.error
import urllib.request
from dataclasses import dataclass

from codemix_search.evaluate.scorers import chrf


class JudgeError(RuntimeError):
    """The judge could not give a verdict (one line: what failed and where)."""


@dataclass(frozen=True)
class ReferenceJudge:
    name: str = "reference-chrf"

    def compare(self, prompt: str, a: str, b: str, reference: str = "") -> float:
        """1.0 when ``a`` is better, 0.0 when ``b`` is, 0.5 for a tie."""
        sa, sb = chrf(a, reference), chrf(b, reference)
        if abs(sa - sb) <= 1e-9:
            return 0.5
        return 1.0 if sa > sb else 0.0


SYSTEM = (
    "You compare two continuations of the same text. Reply with exactly one of: A, B, tie. "
    "Prefer the continuation that is more fluent, coherent and relevant to the text."
)


@dataclass(frozen=True)
class OpenAIJudge:
    url: str
    """Base URL, e.g. http://judge.internal:8000/v1 (``/chat/completions`` is appended)."""
    model: str = "gpt-4o-mini"
    api_key_env: str = "OPENAI_API_KEY"
    timeout_s: float = 30.0

    @property
    def name(self) -> str:
        return f"openai:{self.model}"

    def _ask(self, prompt: str, first: str, second: str) -> str:
        body = {
            "model": self.model,
            "temperature": 0,
            "max_tokens": 4,
            "messages": [
                {"role": "system", "content": SYSTEM},
                {
                    "role": "user",
                    "content": f"Text:\n{prompt}\n\nA:\n{first}\n\nB:\n{second}\n\nBetter:",
                },
            ],
        }
        headers = {"Content-Type": "application/json"}
        key = os.environ.get(self.api_key_env)
        if key:
            headers["Authorization"] = f"Bearer {key}"
        endpoint = self.url.rstrip("/") + "/chat/completions"
        req = urllib.request.Request(
            endpoint, data=json.dumps(body).encode(), headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                raw = resp.read()
        except TimeoutError:
            raise JudgeError(f"judge {endpoint} timed out after {self.timeout_s:g} s") from None
        except urllib.error.HTTPError as e:
            raise JudgeError(f"judge {endpoint} answered HTTP {e.code}") from None
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", e)
            if isinstance(reason, (TimeoutError, socket.timeout)):
                raise JudgeError(f"judge {endpoint} timed out after {self.timeout_s:g} s") from None
            raise JudgeError(f"judge {endpoint} unreachable: {reason}") from None
        try:
            content = json.loads(raw)["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError):
            raise JudgeError(
                f"judge {endpoint} sent a malformed reply (not a chat completion): {raw[:80]!r}"
            ) from None
        verdict = re.sub(r"[^a-z]", "", str(content).lower())
        if verdict not in ("a", "b", "tie"):
            raise JudgeError(f"judge {endpoint} gave no verdict (A, B or tie): {content[:40]!r}")
        return verdict

    def compare(self, prompt: str, a: str, b: str, reference: str = "") -> float:
        score = {"a": 1.0, "b": 0.0, "tie": 0.5}
        forward = score[self._ask(prompt, a, b)]
        backward = 1.0 - score[self._ask(prompt, b, a)]
        return (forward + backward) / 2


def make_judge(evaluation):
    if evaluation.judge == "openai":
        return OpenAIJudge(
            evaluation.judge_url,
            evaluation.judge_model,
            evaluation.judge_api_key_env,
            evaluation.judge_timeout_s,
        )
    return ReferenceJudge()


def win_rate(judge, candidate: list[dict], baseline: list[dict]) -> dict:
    """Win-rate of ``candidate``'s generations over ``baseline``'s on their shared prompts."""
    by_prompt = {g["prompt"]: g for g in baseline}
    outcomes = []
    for g in candidate:
        b = by_prompt.get(g["prompt"])
        if b is not None:
            outcomes.append(
                judge.compare(g["prompt"], g["generation"], b["generation"], g.get("reference", ""))
            )
    if not outcomes:
        raise JudgeError("no prompt was answered by both the trial and the baseline")
    return {
        "win_rate": sum(outcomes) / len(outcomes),
        "wins": sum(o == 1.0 for o in outcomes),
        "losses": sum(o == 0.0 for o in outcomes),
        "ties": sum(o not in (0.0, 1.0) for o in outcomes),
        "pairs": len(outcomes),
        "judge": judge.name,
    }
