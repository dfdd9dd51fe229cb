"""The job runner through the CLI against two local OpenAI-protocol servers: judge
identity (two servers on one host are two judges) and the sliding window."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

pytest.importorskip("openai")

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "judge"))
from openai_server import OpenAITestServer

from ultrajudge.cli import _register, app
from ultrajudge.judge.io import load_rows

_register()
FEEDBACK = Path(__file__).resolve().parents[2] / "ultrajudge" / "examples" / "feedback.jsonl"
_TEXT = re.compile(r"<text (\d+)>|^#+\s*Text (\d+)", re.MULTILINE | re.IGNORECASE)


def always(rating: int):  # type: ignore[no-untyped-def]
    def respond(prompt: str) -> str:
        indices = sorted({int(a or b) for a, b in _TEXT.findall(prompt)})
        return "\n\n".join(
            f"#### Output for Text {i}\nRating: {rating}\nRationale: always {rating}."
            for i in indices
        )

    return respond


def score(server: OpenAITestServer, out: Path, store: Path) -> list[dict]:
    args = ["score", FEEDBACK, "--judge", "openai:same-model", "-o", out, "--store", store]
    args += ["-O", f"base_url={server.url}", "-O", "server_kind=vllm", "--no-progress"]
    result = CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return load_rows(str(out)).to_list()


def test_two_servers_on_one_host_are_two_judges(tmp_path: Path) -> None:
    store = tmp_path / "shared.sqlite"
    with OpenAITestServer(responder=always(5)) as fives, OpenAITestServer(responder=always(1)) as ones:  # fmt: skip
        assert fives.url != ones.url and "127.0.0.1" in fives.url
        first = score(fives, tmp_path / "fives.jsonl", store)
        second = score(ones, tmp_path / "ones.jsonl", store)
        assert len(fives.requests) == 20 and len(ones.requests) == 20
        port = fives.url.split(":")[2].split("/")[0]
    assert {r for row in first for r in row["ratings"]} == {5}
    assert {r for row in second for r in row["ratings"]} == {1}
    assert first[0]["judge"].startswith(f"openai:same-model@http://127.0.0.1:{port}/v1 (vllm) | ")
    assert first[0]["judge"] != second[0]["judge"]
