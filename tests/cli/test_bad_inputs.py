"""Every bad input a new user tried (issue 15) gives exactly one line naming what is wrong,
exit code 2 (130 for Ctrl-C), and loses nothing: an earlier output and its store stay
byte-identical. Runs the real entry point (``ultrajudge.cli.run``), in process.

Issue 15, "One clear line instead of a traceback", bullet by bullet -> the tests here:

- an empty .jsonl or .csv: CASES "an empty .jsonl", "an empty .csv"
- one malformed JSON line: "one malformed JSON line" (and "a JSON line that is not an object")
- a Latin-1 CSV; a non-UTF-8 JSONL naming file and line: "a Latin-1 CSV", "a non-UTF-8 JSONL"
  (also "a damaged .gz", "an input that does not exist", "a glob matching nothing")
- --batch-size -3 (a KeyError) / 0: "negative batch size", "zero batch size",
  "generate pool --batch-size -3"; every command's numbers and choices, before any model
  loads: tests/cli/test_option_ranges.py
- -O device=cuda with a CPU-only torch: test_cuda_on_a_cpu_only_torch_is_one_line
- --push-to-hub without a network: helper hub's tests (not here)
- pipeline YAML with a wrong type: helper pipeline's tests (not here)
- Ctrl-C during start-up: test_ctrl_c_during_start_up_is_the_interrupted_line,
  test_ctrl_c_while_the_model_loads_is_the_interrupted_line
- a full disk: test_a_full_disk_while_writing_the_output_is_one_line_and_keeps_the_old_output,
  test_a_full_disk_in_the_results_store_is_one_line (SQLite's own SQLITE_FULL),
  test_a_full_disk_while_writing_a_report_is_one_line
- a damaged store (naming it, and saying to delete it or pass --store): "a store with one
  digit edited", "a store that is not a database" (and "a store another run holds")
- a template the sandbox refuses: "template reaching for Python internals" (SecurityError),
  "template with a huge range" (OverflowError), "template dividing by zero"
- a !!python tag in a --jury or --generators file: "!!python tag in a jury file",
  "!!python tag in a generators file"
- a wrong API key (final, not re-asked per row): test_a_wrong_api_key_ends_the_run_with_one_line
- a local model path that does not exist / a Hub id offline: "a local model path that does
  not exist", "a relative model path that does not exist", "a Hub id that is not cached
  while offline"
- a server that hangs gives up within -O timeout: test_a_hanging_server_gives_up_within_the_timeout
- unknown output suffixes: "an output ending in .txt", "an output ending in .json.gz"
"""

from __future__ import annotations

import errno
import json
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from ultrajudge.cli import run

ROWS = [
    {"instruction": "Say hi.", "completions": ["hi", "hello there"]},
    {"instruction": "Add 2 and 2.", "completions": ["4", "5", "four"]},
]


@dataclass(frozen=True)
class Case:
    """``setup(tmp)`` writes the bad input and returns the arguments after ``score IN -o OUT``
    (or a whole argv when ``whole``); ``says`` must appear in the one line."""

    name: str
    setup: Callable[[Path], list[str]]
    says: str
    names_file: str | None = None  # a file name the line must contain
    code: int = 2
    whole: bool = False
    also: str | None = None  # a second thing the line must say


def _write(path: Path, text: str | bytes) -> Path:
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def _store(tmp: Path) -> Path:
    return tmp / "out" / "scored.jsonl.ultrajudge.sqlite"


def _edit_one_digit(tmp: Path) -> list[str]:
    db = sqlite3.connect(_store(tmp))
    key, value = db.execute("SELECT key, value FROM results WHERE ok = 1 LIMIT 1").fetchone()
    edited = value.replace('"rating": 4', '"rating": 5', 1)
    if edited == value:  # some other digit
        edited = next(value.replace(d, str((int(d) + 1) % 10), 1) for d in value if d.isdigit())
    db.execute("UPDATE results SET value = ? WHERE key = ?", (edited, key))
    db.commit()
    db.close()
    return []


def _garbage_store(tmp: Path) -> list[str]:
    _store(tmp).write_bytes(b"this is not a database\n" * 200)
    for suffix in ("-wal", "-shm"):
        Path(f"{_store(tmp)}{suffix}").unlink(missing_ok=True)
    return []


def _locked_store(tmp: Path) -> list[str]:
    # Another process holds the store (as a running `ultrajudge score` would) for 60 s.
    code = (
        "import sys, time; from ultrajudge.judge.store import ResultStore; "
        f"s = ResultStore({str(_store(tmp))!r}, exclusive=True); print('held', flush=True); time.sleep(60)"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    _HELD.append(proc)
    return []


_HELD: list[subprocess.Popen[str]] = []


def _evil_yaml(flag: str, name: str) -> Callable[[Path], list[str]]:
    def setup(tmp: Path) -> list[str]:
        path = _write(tmp / name, "judges: !!python/object/apply:os.system ['echo pwned']\n")
        return [flag, str(path)]

    return setup


def _evil_generators(tmp: Path) -> list[str]:
    path = _write(tmp / "gens.yaml", "generators: !!python/object/apply:os.system ['echo x']\n")
    src = tmp / "in.jsonl"
    return ["generate", "pool", str(src), "-o", str(tmp / "g.jsonl"), "--generators", str(path)]


def _template(source: str) -> Callable[[Path], list[str]]:
    def setup(tmp: Path) -> list[str]:
        path = _write(tmp / "evil.jinja2", "{% block user %}" + source + "{% endblock %}")
        return ["--template", str(path)]

    return setup


def _bad_source(name: str, content: str | bytes | None) -> Callable[[Path], list[str]]:
    def setup(tmp: Path) -> list[str]:
        path = tmp / name if content is None else _write(tmp / name, content)
        out = tmp / "out" / "scored.jsonl"
        return ["score", str(path), "-o", str(out), "-j", "scripted:auto", "--no-progress"]

    return setup


def _output(name: str) -> Callable[[Path], list[str]]:
    def setup(tmp: Path) -> list[str]:
        out = tmp / "out" / name
        return ["score", str(tmp / "in.jsonl"), "-o", str(out), "-j", "scripted:auto"]

    return setup


CASES = [
    Case("an empty .jsonl", _bad_source("e.jsonl", ""), "is empty", "e.jsonl", whole=True),
    Case("an empty .csv", _bad_source("e.csv", "\n"), "is empty", "e.csv", whole=True),
    Case(
        "one malformed JSON line",
        _bad_source("m.jsonl", '{"instruction": "a", "completions": ["x"]}\n{"instruction": \n'),
        "line 2 is not valid JSON",
        "m.jsonl",
        whole=True,
    ),
    Case(
        "a JSON line that is not an object",
        _bad_source("l.jsonl", '["a", "b"]\n'),
        "line 1 is a JSON list",
        "l.jsonl",
        whole=True,
    ),
    Case(
        "a Latin-1 CSV",
        _bad_source("l1.csv", b'instruction,completions\ncaf\xe9,"[""x""]"\n'),
        "line 2 is not UTF-8",
        "l1.csv",
        whole=True,
    ),
    Case(
        "a non-UTF-8 JSONL",
        _bad_source("l1.jsonl", b'{"instruction": "caf\xe9", "completions": ["x"]}\n'),
        "line 1 is not UTF-8",
        "l1.jsonl",
        whole=True,
    ),
    Case(
        "a damaged .gz",
        _bad_source("d.jsonl.gz", b"\x1f\x8b\x08\x00garbage"),
        "cannot read",
        "d.jsonl.gz",
        whole=True,
    ),
    Case(
        "an input that does not exist",
        _bad_source("none.jsonl", None),
        "does not exist",
        "none.jsonl",
        whole=True,
    ),
    Case(
        "a glob matching nothing",
        _bad_source("nothing-*.jsonl", None),
        "matches no file",
        "nothing-*.jsonl",
        whole=True,
    ),
    Case(
        "an output ending in .txt", _output("scored.txt"), "suffix '.txt'", "scored.txt", whole=True
    ),
    Case(
        "an output ending in .json.gz",
        _output("s.json.gz"),
        "suffix '.gz'",
        "s.json.gz",
        whole=True,
    ),
    Case("negative batch size", lambda t: ["--batch-size", "-3"], "--batch-size"),
    Case("zero batch size", lambda t: ["--batch-size", "0"], "--batch-size"),
    Case(
        "generate pool --batch-size -3",
        lambda t: [
            "generate",
            "pool",
            str(t / "in.jsonl"),
            "-o",
            str(t / "g.jsonl"),
            "-g",
            "model=scripted:auto",
            "--batch-size",
            "-3",
        ],
        "Invalid value for '--batch-size'",
        whole=True,
    ),
    Case("unknown mode", lambda t: ["--mode", "fast"], "--mode"),
    Case("min-mass above 1", lambda t: ["--min-mass", "2"], "--min-mass"),
    Case("negative temperature", lambda t: ["--temperature", "-1"], "--temperature"),
    Case("unknown reducer", lambda t: ["-j", "a", "-j", "b", "--reducer", "max"], "--reducer"),
    Case("judge option not KEY=VALUE", lambda t: ["-O", "device"], "KEY=VALUE"),
    Case(
        "!!python tag in a jury file",
        _evil_yaml("--jury", "jury.yaml"),
        "not valid YAML",
        names_file="jury.yaml",
    ),
    Case(
        "!!python tag in a generators file",
        _evil_generators,
        "not valid YAML",
        names_file="gens.yaml",
        whole=True,
    ),
    Case(
        "template reaching for Python internals",
        _template("{{ ''.__class__.__mro__ }}"),
        "SecurityError",
        names_file="evil.jinja2",
    ),
    Case(
        "template with a huge range",
        _template("{% for i in range(10**12) %}{% endfor %}"),
        "OverflowError",
        names_file="evil.jinja2",
    ),
    Case(
        "template dividing by zero",
        _template("{{ 1 / 0 }}"),
        "refused",
        names_file="evil.jinja2",
    ),
    Case(
        "a local model path that does not exist",
        lambda t: ["-j", str(t / "models" / "missing")],
        "no such directory",
        names_file="missing",
    ),
    Case(
        "a relative model path that does not exist",
        lambda t: ["-j", "./no/such/model"],
        "no such directory",
        names_file="./no/such/model",
    ),
    Case(
        "a Hub id that is not cached while offline",
        lambda t: ["-j", "some-org/some-model"],
        "not in the local cache",
        names_file="some-org/some-model",
    ),
    Case(
        "a store with one digit edited",
        _edit_one_digit,
        "damaged",
        "scored.jsonl.ultrajudge",
        also="delete it, or pass --store with a new path",
    ),
    Case(
        "a store that is not a database",
        _garbage_store,
        "damaged",
        "scored.jsonl.ultrajudge",
        also="delete it, or pass --store with a new path",
    ),
    Case("a store another run holds", _locked_store, "another run", "scored.jsonl.ultrajudge"),
]


pytestmark = pytest.mark.usefixtures("no_library_progress_bars")


def _one_line(capsys: pytest.CaptureFixture[str]) -> list[str]:
    err = capsys.readouterr().err
    return [line for line in err.splitlines() if line.strip()]


@pytest.fixture()
def scored(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[Path, Path]:
    """A first, successful run: its output and store must survive every bad rerun."""
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in ROWS), encoding="utf-8")
    out = tmp_path / "out" / "scored.jsonl"
    assert run(["score", str(src), "-o", str(out), "-j", "scripted:auto", "--no-progress"]) == 0
    capsys.readouterr()
    return src, out


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_a_bad_input_is_one_line_exit_2_and_loses_nothing(
    case: Case, scored: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    src, out = scored
    tmp = src.parent
    before = out.read_bytes()
    extra = case.setup(tmp)
    store_before = _store(tmp).read_bytes()
    try:
        argv = extra if case.whole else ["score", str(src), "-o", str(out), *extra]
        if not case.whole and "-j" not in extra and "--jury" not in extra:
            argv += ["-j", "scripted:auto"]
        code = run([*argv, "--no-progress"] if not case.whole else argv)
    finally:
        for proc in _HELD:
            proc.kill()
            proc.wait()
        _HELD.clear()
    lines = _one_line(capsys)
    assert code == case.code, lines
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: ") and case.says in lines[0], lines[0]
    if case.names_file:
        assert case.names_file in lines[0], lines[0]
    if case.also:
        assert case.also in lines[0], lines[0]
    assert out.read_bytes() == before  # the earlier output is untouched
    assert _store(tmp).read_bytes() == store_before  # and so is the store
    assert not list(out.parent.glob(".*.tmp")), "no temporary files are left behind"


def test_cuda_on_a_cpu_only_torch_is_one_line(
    scored: tuple[Path, Path], tiny_model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    src, out = scored
    before, store_before = out.read_bytes(), _store(src.parent).read_bytes()
    argv = ["score", str(src), "-o", str(out), "-j", str(tiny_model_dir), "-O", "device=cuda"]
    assert run([*argv, "--no-progress"]) == 2
    (line,) = _one_line(capsys)
    assert "device=cuda" in line and "sees no CUDA device" in line
    assert out.read_bytes() == before and _store(src.parent).read_bytes() == store_before


def test_a_full_disk_while_writing_the_output_is_one_line_and_keeps_the_old_output(
    scored: tuple[Path, Path], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import datasets

    src, out = scored
    before = out.read_bytes()

    def full(self: object, path: str, **kwargs: object) -> None:
        Path(path).write_text("half")
        raise OSError(errno.ENOSPC, "No space left on device", path)

    monkeypatch.setattr(datasets.Dataset, "to_json", full)
    code = run(["score", str(src), "-o", str(out), "-j", "scripted:auto", "--no-progress"])
    lines = _one_line(capsys)
    assert len(lines) == 1, lines
    line = lines[0]
    assert code == 2 and "the disk is full" in line and f"{out}'" in line
    assert out.read_bytes() == before
    assert not list(out.parent.glob(".*.tmp"))


def test_ctrl_c_during_start_up_is_the_interrupted_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import ultrajudge.cli as cli

    def interrupted() -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_register", interrupted)
    assert run(["score", "--help"]) == 130
    (line,) = _one_line(capsys)
    assert line.startswith("interrupted:") and "rerun the same command" in line


def test_a_bug_is_not_dressed_up_as_a_user_error(
    scored: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A plain ValueError from our own code keeps its traceback: it is a bug to fix."""
    import ultrajudge.judge.scoring as scoring

    def broken(*args: object, **kwargs: object) -> None:
        raise ValueError("an internal invariant broke")

    monkeypatch.setattr(scoring, "judge_dataset", broken)
    src, out = scored
    with pytest.raises(ValueError, match="internal invariant"):
        run(["score", str(src), "-o", str(out), "-j", "scripted:auto", "--no-progress"])


def test_a_wrong_api_key_ends_the_run_with_one_line(
    scored: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """A 401 is final: the first refusal ends the run (no request per row), exit 2."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "judge"))
    from openai_server import Fault, OpenAITestServer

    src, out = scored
    many = src.with_name("many.jsonl")
    many.write_text("".join(json.dumps(ROWS[i % 2]) + "\n" for i in range(40)))
    before = out.read_bytes()
    with OpenAITestServer() as server:
        server.fault_if = lambda body: Fault(401)
        argv = [
            "score",
            str(many),
            "-o",
            str(out),
            "-j",
            "openai:m",
            "-O",
            f"base_url={server.url}",
        ]
        code = run([*argv, "-O", "api_key=sk-wrong", "-O", "concurrency=2", "--no-progress"])
        sent = len(server.requests)
    lines = _one_line(capsys)
    assert code == 2 and len(lines) == 1, lines
    assert "refused the API key (HTTP 401)" in lines[0] and "sk-wrong" not in lines[0]
    assert sent <= 2  # the requests already in flight, not one per row
    assert out.read_bytes() == before


def test_ctrl_c_while_the_model_loads_is_the_interrupted_line(
    scored: tuple[Path, Path], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import ultrajudge.judge.backends as backends

    def interrupted(spec: str, **options: str) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(backends, "build_backend", interrupted)
    src, out = scored
    before, store_before = out.read_bytes(), _store(src.parent).read_bytes()
    assert run(["score", str(src), "-o", str(out), "-j", "./some-model", "--no-progress"]) == 130
    (line,) = _one_line(capsys)
    assert line.startswith("interrupted:") and "rerun the same command" in line
    assert out.read_bytes() == before and _store(src.parent).read_bytes() == store_before


def test_a_full_disk_in_the_results_store_is_one_line(
    scored: tuple[Path, Path], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite's own "database or disk is full" (SQLITE_FULL): the store may not grow."""
    real_connect = sqlite3.connect

    def no_room(*args: object, **kwargs: object) -> sqlite3.Connection:
        db = real_connect(*args, **kwargs)  # type: ignore[arg-type]
        (pages,) = db.execute("PRAGMA page_count").fetchone()
        db.execute(f"PRAGMA max_page_count = {pages}")
        return db

    src, out = scored
    many = src.with_name("many.jsonl")
    rows = [{"instruction": f"Question {i}? " + "x" * 400, "completions": ["a", "b"]} for i in range(60)]  # fmt: skip
    many.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    before, store_before = out.read_bytes(), _store(src.parent).read_bytes()
    monkeypatch.setattr(sqlite3, "connect", no_room)
    code = run(["score", str(many), "-o", str(out), "-j", "scripted:auto", "--no-progress"])
    lines = _one_line(capsys)
    assert code == 2 and len(lines) == 1, lines
    assert "the disk is full (writing the results store" in lines[0]
    assert str(_store(src.parent)) in lines[0] and "what was stored is kept" in lines[0]
    assert out.read_bytes() == before and _store(src.parent).read_bytes() == store_before


def test_a_full_disk_while_writing_a_report_is_one_line(
    scored: tuple[Path, Path], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    src, out = scored
    report = src.parent / "report.html"
    report.write_text("an earlier report", encoding="utf-8")
    real_write = Path.write_text

    def full(self: Path, *args: object, **kwargs: object) -> int:
        if self.name.startswith(".report.html."):
            real_write(self, "half")
            raise OSError(errno.ENOSPC, "No space left on device", str(self))
        return real_write(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "write_text", full)
    pairs = src.parent / "pairs.jsonl"
    code = run(["pairs", str(out), "-o", str(pairs), "--report", str(report)])
    lines = _one_line(capsys)
    assert code == 2 and len(lines) == 1, lines
    assert "the disk is full" in lines[0] and f"{report}'" in lines[0]
    assert report.read_text(encoding="utf-8") == "an earlier report"
    assert not list(src.parent.glob(".*.tmp"))


def test_a_hanging_server_gives_up_within_the_timeout(
    scored: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """A server that answers only after 10 s: with -O timeout=0.3 each request gives up
    (a backend_error with its reason, never a made-up rating), the failure gate ends the
    run with one line, and the earlier output is untouched."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "judge"))
    from openai_server import Fault, OpenAITestServer

    src, out = scored
    before = out.read_bytes()
    hung = src.parent / "hung" / "scored.jsonl"
    with OpenAITestServer() as server:
        server.fault_if = lambda body: Fault.hang(10)
        argv = ["score", str(src), "-o", str(hung), "-j", "openai:m", "-O", f"base_url={server.url}"]  # fmt: skip
        options = ["-O", "api_key=k", "-O", "timeout=0.3"]
        code = run([*argv, *options, "--max-retries", "0", "--no-progress"])
    lines = _one_line(capsys)
    assert code == 3 and len(lines) == 1, lines
    assert "of judgments failed, above --max-failure-rate" in lines[0]
    rows = [json.loads(x) for x in hung.read_text(encoding="utf-8").splitlines()]
    assert [r["ratings"] for r in rows] == [[None, None], [None, None, None]]
    assert {s for r in rows for s in r["rating_status"]} == {"backend_error"}
    assert all("timed out" in raw for r in rows for raw in r["rating_raw"]), rows[0]["rating_raw"]
    assert out.read_bytes() == before
