"""A backend that replays fixed outputs: for tests, dry runs and demos.

Three ways to script it:

* ``scripted:auto`` answers every UltraFeedback-style prompt with a well-formed
  block per "Text i", with a rating derived from a hash of that text (stable
  across runs), so a whole pipeline can run with no model at all; ``-O seed=N``
  salts the hash: another judge, for a demo jury;
* ``scripted:path.jsonl`` replays a file of ``{"output": ...}`` lines, each
  optionally with ``"match": "substring"`` (first entry whose substring is in
  the prompt wins; entries without ``match`` are served in turn, cycling);
* in Python, ``ScriptedBackend(responder=callable)`` maps prompt text to output.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ultrajudge.judge.backends.base import register_backend
from ultrajudge.judge.errors import ConfigError
from ultrajudge.judge.types import (
    Capabilities,
    Completion,
    Conversation,
    GenerationParams,
    LogprobRequest,
    TokenDistribution,
)

Responder = Callable[[str], str]
LogprobResponder = Callable[[str], Mapping[str, float]]

_SCALE_WORDS = re.compile(r"(?:from|scale of) (-?[0-9]+) to (-?[0-9]+)")
_TEXT_HEADER = re.compile(r"<text (\d+)>|^#+\s*Text (\d+)", re.MULTILINE | re.IGNORECASE)


def _stable_int(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def _auto_grade(prompt: str) -> str | None:
    """A stable, well-formed answer to a single-answer grading prompt (``[RESULT]``,
    ``[[rating]]`` or JSON), on the scale the prompt names ("from 1 to 10"), else None."""
    m = _SCALE_WORDS.search(prompt)
    low, high = (int(m.group(1)), int(m.group(2))) if m else (1, 5)
    grade = low + _stable_int(prompt) % max(1, high - low + 1)
    # the built-in templates' own instructions, which a graded response is unlikely to hold
    if "[RESULT] (A or B)" in prompt:
        return f"Feedback: scripted comparison. [RESULT] {'AB'[_stable_int(prompt) % 2]}"
    if "[RESULT] (an integer from" in prompt:
        return f"Feedback: scripted feedback. [RESULT] {grade}"
    if 'this format: "[[rating]]"' in prompt:
        return f"Scripted explanation.\nRating: [[{grade}]]"
    if '{"rating": <integer>' in prompt:
        return json.dumps({"rating": grade, "rationale": "scripted rationale."})
    return None


def auto_ultrafeedback(prompt: str) -> str:
    """Well-formed UltraFeedback answer for every 'Text i' in ``prompt``; a stable
    ``[[A]]``/``[[B]]``/``[[C]]`` verdict for a pairwise prompt; a stable grade for a
    Prometheus, MT-Bench or JSON grading prompt."""
    if "[[A]]" in prompt and "[[B]]" in prompt:
        return f"Scripted comparison.\n[[{'ABC'[_stable_int(prompt) % 3]}]]"
    graded = _auto_grade(prompt)
    if graded is not None:
        return graded
    indices = sorted({int(a or b) for a, b in _TEXT_HEADER.findall(prompt)})
    if not indices:  # a single-response prompt ("score - rationale")
        return f"{1 + _stable_int(prompt) % 5} - scripted rationale."
    blocks = []
    for i in indices:
        rating = 1 + _stable_int(f"{prompt}|{i}") % 5
        blocks.append(
            f"#### Output for Text {i}\nRating: {rating}\nRationale: scripted rationale {i}."
        )
    return "\n\n".join(blocks)


def _auto_logprobs(prompt: str) -> dict[str, float]:
    weights = [1.0 + (_stable_int(f"{prompt}|{s}") % 100) for s in range(1, 6)]
    total = sum(weights) / 0.9  # 10% of the mass goes elsewhere
    return {str(s): math.log(w / total) for s, w in zip(range(1, 6), weights)}


def _render(conversation: Conversation) -> str:
    return "\n".join(f"<|{m.role}|>\n{m.content}" for m in conversation) + "\n<|assistant|>\n"


#: How many prompts a :class:`ScriptedBackend` keeps in ``calls``: every one a test asks,
#: without a dry run over millions of rows keeping each prompt it was sent.
KEPT_CALLS = 1000


@dataclass
class ScriptedBackend:
    """Replays outputs chosen by ``responder``; records the first ``keep_calls`` prompts it
    is asked in ``calls`` (and counts every one in ``n_calls``)."""

    responder: Responder = auto_ultrafeedback
    logprob_responder: LogprobResponder | None = _auto_logprobs
    id: str = "scripted:auto"
    delay: float = 0.0
    log_path: Path | None = None
    capabilities: Capabilities = field(
        default_factory=lambda: Capabilities(logprobs=True, max_top_logprobs=20, supports_n=True)
    )
    calls: list[str] = field(default_factory=list, repr=False)
    n_calls: int = 0
    keep_calls: int = KEPT_CALLS
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def _answer(self, prompt: str) -> str:
        with self._lock:
            self._record(prompt)
            if self.log_path is not None:
                with open(self.log_path, "a", encoding="utf-8") as f:
                    f.write(hashlib.sha256(prompt.encode()).hexdigest() + "\n")
        if self.delay:
            time.sleep(self.delay)
        return self.responder(prompt)

    def _record(self, prompt: str) -> None:
        self.n_calls += 1
        if len(self.calls) < self.keep_calls:
            self.calls.append(prompt)

    def chat(
        self, conversations: Sequence[Conversation], params: GenerationParams
    ) -> list[Completion]:
        return self.complete([_render(c) for c in conversations], params)

    def complete(self, prompts: Sequence[str], params: GenerationParams) -> list[Completion]:
        out = []
        for prompt in prompts:
            text = self._answer(prompt)
            for stop in params.stop:
                text = text.split(stop, 1)[0]
            n_out = len(text.split())
            finish = "length" if n_out > params.max_new_tokens else "stop"
            text = (
                " ".join(text.split(" ")[: params.max_new_tokens]) if finish == "length" else text
            )
            out.append(
                Completion(text, len(prompt.split()), min(n_out, params.max_new_tokens), finish)
            )
        return out

    def next_token_logprobs(
        self, requests: Sequence[LogprobRequest], *, candidates: Sequence[str] = (), top_k: int = 20
    ) -> list[TokenDistribution]:
        if self.logprob_responder is None:
            raise NotImplementedError(f"{self.id} was given no logprob responder")
        out = []
        for req in requests:
            prompt = req.raw_prompt if req.raw_prompt is not None else _render(req.messages)
            prompt += req.assistant_prefix
            with self._lock:
                self._record(prompt)
            out.append(TokenDistribution(dict(self.logprob_responder(prompt)), len(prompt.split())))
        return out


def _file_responder(path: Path) -> Responder:
    try:
        entries = [
            json.loads(line)
            for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip()
        ]
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"cannot read scripted outputs from {path}: {exc}") from exc
    if not entries or any("output" not in e for e in entries):
        raise ConfigError(f"{path}: every line must be a JSON object with an 'output' key")
    matched = [e for e in entries if "match" in e]
    cycle: Iterator[dict] = itertools.cycle([e for e in entries if "match" not in e] or entries)
    lock = threading.Lock()

    def respond(prompt: str) -> str:
        for e in matched:
            if e["match"] in prompt:
                return str(e["output"])
        with lock:
            return str(next(cycle)["output"])

    return respond


@register_backend("scripted")
def build_scripted(
    target: str,
    *,
    delay: float | str = 0.0,
    log: str | None = None,
    seed: int | str = 0,
    **_: object,
) -> ScriptedBackend:
    """``scripted:auto`` or ``scripted:outputs.jsonl``; options ``delay`` (s/call), ``log``
    (file), and for ``auto`` ``seed``: another seed is another judge (other ratings, its own
    id ``scripted:auto:seed=N``), e.g. a jury's second member in a demo."""
    log_path = Path(log) if log else None
    if target == "auto":
        salt = _seed(seed)
        if not salt:
            return ScriptedBackend(delay=float(delay), log_path=log_path)
        return ScriptedBackend(
            responder=lambda prompt: auto_ultrafeedback(f"<scripted seed {salt}>\n{prompt}"),
            logprob_responder=lambda prompt: _auto_logprobs(f"<scripted seed {salt}>\n{prompt}"),
            id=f"scripted:auto:seed={salt}",
            delay=float(delay),
            log_path=log_path,
        )
    path = Path(target)
    return ScriptedBackend(
        responder=_file_responder(path),
        logprob_responder=_auto_logprobs,
        id=f"scripted:{path.name}:{hashlib.sha256(path.read_bytes()).hexdigest()[:12]}",
        delay=float(delay),
        log_path=log_path,
    )


def _seed(value: int | str) -> int:
    try:
        seed = int(value)
    except ValueError:
        seed = -1
    if seed < 0:
        raise ConfigError(f"scripted:auto: seed must be a whole number >= 0, got {value!r}")
    return seed
