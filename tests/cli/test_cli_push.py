"""``--push-to-hub`` / ``--private``: the output and its dataset card go to a Hub stand-in on
127.0.0.1 (:mod:`hub_server`, which speaks the HTTP calls ``huggingface_hub`` makes), and a
push that fails is one line, exit 5, with the local output as a run without the flag writes
it. The end-to-end cases run the real entry point in a subprocess, so that the card's
command line is the real one."""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parent))
from hub_server import HubTestServer

from ultrajudge.cli import _register, app, run
from ultrajudge.judge.io import load_rows

_register()
EXAMPLES = Path(__file__).resolve().parents[2] / "ultrajudge" / "examples"
FEEDBACK = EXAMPLES / "feedback.jsonl"
PAIRS = EXAMPLES / "pairs.jsonl"
TOKEN = "hf_testTokenNeverInTheCard0123"
API_KEY = "sk-fakeKeyOnTheCommandLine0123456789"


def cli(
    args: list[object], cwd: Path, endpoint: str, **env: str
) -> subprocess.CompletedProcess[str]:
    """``ultrajudge ARGS`` in a subprocess against the Hub at ``endpoint``."""
    environ = {**os.environ, "HF_ENDPOINT": endpoint, "HF_TOKEN": TOKEN, "HF_HOME": str(cwd / "hf"),
               "HF_HUB_OFFLINE": "0", **env}  # fmt: skip
    return subprocess.run(
        [sys.executable, "-m", "ultrajudge.cli", *map(str, args)],
        cwd=cwd, env=environ, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def score_args(out: str, *extra: str) -> list[object]:
    return ["score", FEEDBACK, "--judge", "scripted:auto", "-o", out, "--no-progress",
            "-O", f"api_key={API_KEY}", *extra]  # fmt: skip


def parquet_rows(data: bytes) -> list[dict[str, object]]:
    return pq.read_table(io.BytesIO(data)).to_pylist()


def front_matter(card: str) -> dict[str, object]:
    assert card.startswith("---\n")
    return yaml.safe_load(card.split("---\n")[1])


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_score_pushes_its_rows_and_a_card_to_a_private_repo(tmp_path: Path) -> None:
    with HubTestServer() as hub:
        done = cli(score_args("scored.jsonl", "--push-to-hub", "me/judged", "--private"), tmp_path, hub.url)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"pushed to {hub.url}/datasets/me/judged (private; rows: default 20)" in done.stdout
    assert hub.repos["me/judged"] == {"visibility": "private", "type": "dataset"}
    files = hub.files["me/judged"]
    assert sorted(files) == ["README.md", "data/train-00000-of-00001.parquet"]
    local = load_rows(str(tmp_path / "scored.jsonl")).to_list()
    assert parquet_rows(files["data/train-00000-of-00001.parquet"]) == local
    assert len(hub.commits) == 1  # data and card land together
    card = files["README.md"].decode()
    meta = front_matter(card)
    assert meta["tags"] == ["ultrajudge", "llm-as-judge"]
    assert meta["task_categories"] == ["text-generation"]
    assert meta["size_categories"] == ["n<1K"]
    assert "license" not in meta
    assert meta["configs"] == [{"config_name": "default", "default": True,
                                "data_files": [{"split": "train", "path": "data/train-*"}]}]  # fmt: skip
    record = json.loads((tmp_path / "scored.jsonl.run.json").read_text())
    assert "- judge: `scripted:auto`" in card
    template = record["settings"]["configs"][0]["template"]
    assert template.startswith("ultrafeedback/overall@") and f"- template: `{template}`" in card
    assert "- scale: `1,2,3,4,5`" in card
    statuses = record["summary"]["statuses"]
    assert f"- statuses: ok {statuses['ok']}" in card and sum(statuses.values()) == 55
    assert "20 rows" in card
    assert " ".join(record["command"]) in card
    assert "ultrajudge score " in card and "--push-to-hub me/judged --private" in card
    assert "api_key=***" in card
    for secret in (API_KEY, TOKEN):
        assert secret not in card
        assert all(secret.encode() not in body for body in files.values())


def test_no_network_is_one_line_exit_5_and_the_output_as_without_the_flag(tmp_path: Path) -> None:
    (tmp_path / "plain").mkdir()
    (tmp_path / "push").mkdir()
    start = time.monotonic()
    plain = cli(score_args("scored.jsonl"), tmp_path / "plain", "http://127.0.0.1:1")
    plain_seconds = time.monotonic() - start
    assert plain.returncode == 0, plain.stderr
    endpoint = f"http://127.0.0.1:{closed_port()}"
    start = time.monotonic()
    pushed = cli(score_args("scored.jsonl", "--push-to-hub", "me/judged"), tmp_path / "push", endpoint)  # fmt: skip
    push_seconds = time.monotonic() - start
    assert pushed.returncode == 5
    lines = pushed.stderr.splitlines()
    assert len(lines) == 1, pushed.stderr
    assert lines[0].startswith(
        f"error: could not push to the Hub dataset 'me/judged': the Hub at {endpoint} is unreachable"
    )
    assert "rerun the same command" in lines[0]
    for name in ("scored.jsonl", "scored.jsonl.columns.json"):
        assert (tmp_path / "push" / name).read_bytes() == (tmp_path / "plain" / name).read_bytes()
    assert (tmp_path / "push" / "scored.jsonl.run.json").is_file()
    assert push_seconds < plain_seconds + 5  # no minute of retries
    # the rerun finds every judgment in the store and pushes
    with HubTestServer() as hub:
        again = cli(score_args("scored.jsonl", "--push-to-hub", "me/judged"), tmp_path / "push", hub.url)  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert "0 made now, 20 from the store" in again.stdout
    assert hub.repos["me/judged"]["visibility"] == "public"


@pytest.mark.parametrize(
    ("flags", "says"),
    [
        (["--push-to-hub", "me/x"], "error: --push-to-hub me/x: no Hugging Face token; log in "
         "with `hf auth login` or set HF_TOKEN to a token with write access, then rerun"),
        (["--push-to-hub", "me/not a repo"], "'me/not a repo' is not a Hub repo id"),
        (["--private"], "--private goes with --push-to-hub REPO_ID"),
    ],
)  # fmt: skip
def test_no_token_or_a_bad_repo_id_is_refused_before_anything_runs(
    flags: list[str], says: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    import huggingface_hub.constants

    online(monkeypatch, "http://127.0.0.1:1")
    monkeypatch.delenv("HF_TOKEN")
    monkeypatch.setattr(huggingface_hub.constants, "HF_TOKEN_PATH", str(tmp_path / "no-token"))
    out = tmp_path / "scored.jsonl"
    code = run(["score", str(FEEDBACK), "-j", "scripted:auto", "-o", str(out), *flags])
    lines = capsys.readouterr().err.splitlines()
    assert code == 2 and len(lines) == 1 and says in lines[0], lines
    assert list(tmp_path.iterdir()) == []  # nothing ran


def test_offline_mode_is_refused_before_anything_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "scored.jsonl"  # the suite runs with HF_HUB_OFFLINE=1 (tests/conftest.py)
    code = run(["score", str(FEEDBACK), "-j", "scripted:auto", "-o", str(out), "--push-to-hub", "me/x"])  # fmt: skip
    assert code == 2
    assert capsys.readouterr().err.splitlines() == [
        "error: --push-to-hub me/x: HF_HUB_OFFLINE is set, so nothing can reach the Hub; "
        "unset it, or drop --push-to-hub"
    ]
    assert not out.exists()


# In-process cases: the same Hub stand-in, through typer's CliRunner (faster than a process).


@pytest.fixture()
def hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[HubTestServer]:
    with HubTestServer() as server:
        online(monkeypatch, server.url)
        yield server


def online(monkeypatch: pytest.MonkeyPatch, endpoint: str) -> None:
    """The Hub at ``endpoint``, with a token (the suite runs offline: tests/conftest.py)."""
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_ENDPOINT", endpoint)
    monkeypatch.setenv("HF_TOKEN", TOKEN)


def invoke(*args: object) -> tuple[int, str]:
    argv, sys.argv = sys.argv, ["ultrajudge", *map(str, args)]  # what the card reads
    try:
        result = CliRunner().invoke(app, sys.argv[1:], catch_exceptions=False)
    finally:
        sys.argv = argv
    return result.exit_code, result.output


def test_a_refused_repo_is_exit_5_naming_the_status(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    with HubTestServer(refuse=403) as server:
        online(monkeypatch, server.url)
        out = tmp_path / "v.jsonl"
        code, output = invoke("pairwise", PAIRS, "--judge", "scripted:auto", "-o", out,
                              "--no-progress", "--push-to-hub", "someone/else")  # fmt: skip
    assert code == 5
    error = [line for line in output.splitlines() if line.startswith("error:")]
    assert len(error) == 1
    assert "could not push to the Hub dataset 'someone/else': HTTP 403, no right" in error[0]
    assert len(load_rows(str(out))) == 15 and server.files == {}


def test_pairs_and_generate_push_what_they_wrote(tmp_path: Path, hub: HubTestServer) -> None:
    scored = tmp_path / "scored.jsonl"
    assert invoke("score", FEEDBACK, "--judge", "scripted:auto", "-o", scored, "--no-progress")[0] == 0  # fmt: skip
    pairs = tmp_path / "pairs.parquet"
    code, output = invoke("pairs", scored, "-o", pairs, "--push-to-hub", "me/pairs")
    assert code == 0, output
    pushed = parquet_rows(hub.files["me/pairs"]["data/train-00000-of-00001.parquet"])
    assert pushed == load_rows(str(pairs)).to_list() and len(pushed) > 0
    card = hub.files["me/pairs"]["README.md"].decode()
    assert "- judge: `scripted:auto`" in card  # from the scored file's run record
    assert "- template: `ultrafeedback/overall@" in card and "- scale: `1,2,3,4,5`" in card
    assert "ultrajudge pairs " in card and "--push-to-hub me/pairs" in card
    assert hub.repos["me/pairs"]["visibility"] == "public"

    out = tmp_path / "pool.jsonl"
    code, output = invoke("generate", "pool", EXAMPLES / "seed_instructions.jsonl", "-o", out,
                          "-g", "model=scripted:auto", "--limit", "3", "--no-progress",
                          "--push-to-hub", "me/pool", "--private")  # fmt: skip
    assert code == 0, output
    pushed = parquet_rows(hub.files["me/pool"]["data/train-00000-of-00001.parquet"])
    assert pushed == load_rows(str(out)).to_list() and len(pushed) == 3
    assert hub.repos["me/pool"]["visibility"] == "private"


def test_a_second_push_replaces_the_first_shards(monkeypatch: pytest.MonkeyPatch) -> None:
    import datasets

    from ultrajudge.judge import hub as hub_module
    from ultrajudge.judge.hub import push_dataset

    rows = [{"i": i, "text": "x" * 50} for i in range(40)]
    with HubTestServer() as server:
        online(monkeypatch, server.url)
        monkeypatch.setattr(hub_module, "MAX_SHARD_BYTES", 1000)
        push_dataset({"default": datasets.Dataset.from_list(rows)}, "me/d", card="---\n---\n", endpoint=server.url, token=TOKEN)  # fmt: skip
        first = sorted(server.files["me/d"])
        assert len(first) > 2 and first[0] == "README.md"
        shards = [parquet_rows(server.files["me/d"][name]) for name in first[1:]]
        assert [r for shard in shards for r in shard] == rows
        monkeypatch.setattr(hub_module, "MAX_SHARD_BYTES", 10**9)
        push_dataset({"default": datasets.Dataset.from_list(rows[:5])}, "me/d", card="---\n---\n", endpoint=server.url, token=TOKEN)  # fmt: skip
        files = server.files["me/d"]
    assert sorted(files) == ["README.md", "data/train-00000-of-00001.parquet"]
    assert parquet_rows(files["data/train-00000-of-00001.parquet"]) == rows[:5]


def test_run_pushes_the_pairs_and_the_scored_rows_as_two_configs(
    tmp_path: Path, hub: HubTestServer
) -> None:
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text(
        f"input: {FEEDBACK}\njudge: scripted:auto\n"
        "outputs: {pairs: pairs.jsonl, push_to_hub: me/pipeline}\n",
        encoding="utf-8",
    )
    code, output = invoke("run", pipeline, "--workdir", tmp_path / "run", "--no-progress")
    assert code == 0, output
    files = hub.files["me/pipeline"]
    assert sorted(files) == [
        "README.md",
        "data/train-00000-of-00001.parquet",
        "scored/train-00000-of-00001.parquet",
    ]
    for path, local in (("data", "pairs.jsonl"), ("scored", "scored.jsonl")):
        pushed = parquet_rows(files[f"{path}/train-00000-of-00001.parquet"])
        assert pushed == load_rows(str(tmp_path / "run" / local)).to_list()
    meta = front_matter(files["README.md"].decode())
    assert [c["config_name"] for c in meta["configs"]] == ["default", "scored"]
    assert meta["configs"][1]["data_files"] == [{"split": "train", "path": "scored/train-*"}]
    assert "rows: default " in output and ", scored 20)" in output


class SilentHub:
    """A "Hub" on 127.0.0.1 that accepts every connection, reads what is sent and never
    answers (a proxy or server that hangs)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.accepted: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:  # closed
                return
            self.accepted.append(conn)

    def close(self) -> None:
        self.sock.close()
        for conn in self.accepted:
            conn.close()


def test_a_hub_that_never_answers_is_exit_5_within_the_timeout(tmp_path: Path) -> None:
    (tmp_path / "plain").mkdir()
    (tmp_path / "push").mkdir()
    plain = cli(score_args("scored.jsonl"), tmp_path / "plain", "http://127.0.0.1:1")
    assert plain.returncode == 0, plain.stderr
    hub = SilentHub()
    try:
        start = time.monotonic()
        pushed = cli(score_args("scored.jsonl", "--push-to-hub", "me/judged"), tmp_path / "push",
                     hub.url, HF_HUB_DOWNLOAD_TIMEOUT="2")  # fmt: skip
        seconds = time.monotonic() - start
        assert hub.accepted, "the push reached the silent Hub"
    finally:
        hub.close()
    assert pushed.returncode == 5, pushed.stderr
    (line,) = pushed.stderr.splitlines()
    assert line.startswith(
        f"error: could not push to the Hub dataset 'me/judged': the Hub at {hub.url} did not "
        "answer in time (ReadTimeout: "
    )
    assert "(waited 2 s for each answer; HF_HUB_DOWNLOAD_TIMEOUT sets it). The output" in line
    assert seconds < 30, seconds  # without a bound it waited for ever
    for name in ("scored.jsonl", "scored.jsonl.columns.json"):
        assert (tmp_path / "push" / name).read_bytes() == (tmp_path / "plain" / name).read_bytes()


@pytest.mark.parametrize(
    ("value", "seconds"), [(None, 60.0), ("2", 2.0), ("0.5", 0.5), ("0", 60.0), ("soon", 60.0)]
)
def test_the_push_timeout_reads_hf_hub_download_timeout(
    value: str | None, seconds: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    from huggingface_hub import get_session

    from ultrajudge.commands._hub import hub_timeout

    if value is None:
        monkeypatch.delenv("HF_HUB_DOWNLOAD_TIMEOUT", raising=False)
    else:
        monkeypatch.setenv("HF_HUB_DOWNLOAD_TIMEOUT", value)
    before = get_session().timeout
    with hub_timeout() as got:
        assert got == seconds and get_session().timeout.read == seconds
    assert get_session().timeout == before  # the shared client as it was
