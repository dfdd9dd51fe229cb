"""Fixtures for the generator tests: a results-store session, scripted backends, and a tiny
model that ends its turns early (so Magpie and SelfInstruct get untruncated outputs)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from ultrajudge.generators.engine import Session
from ultrajudge.judge.backends.scripted import ScriptedBackend
from ultrajudge.judge.store import ResultStore
from ultrajudge.judge.types import Capabilities, Completion, Conversation, GenerationParams

EXAMPLES = Path(__file__).resolve().parents[2] / "ultrajudge" / "examples"


@pytest.fixture()
def store(tmp_path: Path) -> Iterator[ResultStore]:
    with ResultStore(tmp_path / "store.sqlite") as s:
        yield s


@pytest.fixture()
def session(store: ResultStore) -> Session:
    return Session(store, max_retries=2, batch_size=4, progress=False)


@dataclass
class RecordingBackend:
    """Answers with ``responder(prompt, seed)``; records every call's prompts and params."""

    responder: Callable[[str, int], str]
    id: str = "recording"
    capabilities: Capabilities = field(default_factory=Capabilities)
    calls: list[tuple[list[str], GenerationParams]] = field(default_factory=list)
    finish: Callable[[str], str] = lambda text: "stop"

    def chat(
        self, conversations: Sequence[Conversation], params: GenerationParams
    ) -> list[Completion]:
        prompts = ["\n".join(f"<{m.role}> {m.content}" for m in c) for c in conversations]
        return self.complete(prompts, params)

    def complete(self, prompts: Sequence[str], params: GenerationParams) -> list[Completion]:
        self.calls.append((list(prompts), params))
        out = []
        for prompt in prompts:
            text = self.responder(prompt, params.seed)
            for stop in params.stop:
                text = text.split(stop, 1)[0]
            out.append(Completion(text, 1, 1, self.finish(text)))
        return out

    @property
    def prompts(self) -> list[str]:
        return [p for prompts, _ in self.calls for p in prompts]


@pytest.fixture()
def recording() -> Callable[..., RecordingBackend]:
    return RecordingBackend


def scripted(responder: Callable[[str], str], name: str = "scripted:test") -> ScriptedBackend:
    return ScriptedBackend(responder=responder, id=name)


def write_script(path: Path, entries: list[dict[str, str]]) -> Path:
    path.write_text("".join(json.dumps(e) + "\n" for e in entries), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def chatty_model_dir(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny random model, but with a quarter of its vocabulary as end-of-turn tokens,
    so that its turns end after a few tokens instead of running into the token limit."""
    import random

    out = tmp_path_factory.mktemp("models") / "tiny-chatty"
    shutil.copytree(tiny_model_dir, out)
    config_path = out / "generation_config.json"
    config = json.loads(config_path.read_text())
    vocab = json.loads((out / "config.json").read_text())["vocab_size"]
    rng = random.Random(0)
    ends = sorted(rng.sample(range(3, vocab), vocab // 4))
    config["eos_token_id"] = [config["eos_token_id"], *ends]
    config_path.write_text(json.dumps(config))
    return out
