"""What ultrajudge itself costs on a large dataset: ``score`` with a judge that costs nothing.

Generates ``--rows`` rows (seeded: an instruction and two completions of 20-80 words,
about 640 bytes a row), then runs ``ultrajudge score ROWS.jsonl --judge scripted:auto``
in a subprocess of its own and prints a Markdown table: wall time, rows/s, the seconds
the judging step took (from the run record) and the rest (reading, checks, keys, output,
records), and peak memory. The scripted judge answers at once, so every figure is the
toolkit's own work: reading the input, the job runner and store, assembling and writing
the output.

Peak RSS is the child's ``ru_maxrss`` (``resource.getrusage(RUSAGE_CHILDREN)``; one
child per invocation). It counts the pages of the memory-mapped Arrow files ``datasets``
reads the input from and writes the output through, which the kernel drops under
pressure; ``peak anon`` (sampled from ``/proc/PID/status`` every 50 ms, Linux only) is
the process's own heap, the part that can run a machine out of memory.

    python bench/bench_scale.py                      # 100,000 rows, about 40 s
    python bench/bench_scale.py --rows 1000000       # 1,000,000 rows (640 MB), a few minutes
    python bench/bench_scale.py --rows 300000 --format parquet --keep

``--python`` runs another interpreter (another checkout's code: an environment whose
``ultrajudge`` is that checkout), for before/after figures on the same machine.
Generated inputs are kept in ``--workdir`` (one per row count) and reused; outputs are
deleted unless ``--keep``.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

FORMATS = ("jsonl", "json", "csv", "parquet", "folder")


def make_rows(path: Path, rows: int) -> Path:
    """``rows`` seeded rows as JSON Lines at ``path`` (written once, then reused)."""
    if path.exists():
        return path
    r = random.Random(0)
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        for i in range(rows):
            row = {
                "instruction": f"Question {i}: explain topic {r.randint(0, 10**9)} in a few words.",
                "completions": [
                    f"Answer {j} to {i}: " + "word " * r.randint(20, 80) for j in range(2)
                ],
            }
            f.write(json.dumps(row) + "\n")
    tmp.replace(path)
    return path


class AnonPeak:
    """The largest ``RssAnon`` of a process, sampled every ``every`` seconds (None where
    ``/proc`` has no such line)."""

    def __init__(self, pid: int, every: float = 0.05) -> None:
        self.pid, self.every, self.peak_kb = pid, every, None
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self.thread.start()

    def _watch(self) -> None:
        status = Path(f"/proc/{self.pid}/status")
        while not self.done.wait(self.every):
            try:
                text = status.read_text()
            except OSError:
                return
            for line in text.splitlines():
                if line.startswith("RssAnon:"):
                    kb = int(line.split()[1])
                    self.peak_kb = max(self.peak_kb or 0, kb)

    def stop(self) -> int | None:
        self.done.set()
        self.thread.join()
        return self.peak_kb


def run_score(python: str, source: Path, out: Path) -> dict[str, float | int | None]:
    """One ``score`` run in a child process; its figures."""
    source, out = source.resolve(), out.resolve()
    command = [python, "-c", "from ultrajudge.cli import main; main()", "score", str(source)]
    command += ["--judge", "scripted:auto", "--out", str(out), "--no-progress"]
    log = out.parent / f"{out.name}.log"
    start = time.perf_counter()
    with log.open("w") as sink:
        # run in the output's folder: ``-c`` puts the working directory first on the path,
        # and a checkout's root would shadow the interpreter's own ultrajudge
        child = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, cwd=out.parent)
        anon = AnonPeak(child.pid)
        code = child.wait()
    wall = time.perf_counter() - start
    peak_anon = anon.stop()
    if code != 0:
        sys.exit(f"score exited {code}; its output is in {log}")
    record = json.loads(Path(f"{out}.run.json").read_text(encoding="utf-8"))
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # KiB on Linux
    return {
        "wall": wall,
        "judging": float(record["summary"]["seconds"]),
        "peak_rss_mb": peak / 1024,
        "peak_anon_mb": None if peak_anon is None else peak_anon / 1024,
    }


def table(rows: int, fmt: str, figures: dict[str, float | int | None]) -> str:
    wall, judging = float(figures["wall"]), float(figures["judging"])  # type: ignore[arg-type]
    anon = figures["peak_anon_mb"]
    lines = [
        "| rows | output | wall | rows/s | judging | outside judging | peak RSS | peak anon |",
        "|---:|---|---:|---:|---:|---:|---:|---:|",
        f"| {rows:,} | {fmt} | {wall:.1f} s | {rows / wall:,.0f} | {judging:.1f} s "
        f"| {wall - judging:.1f} s | {figures['peak_rss_mb']:.0f} MB "
        f"| {'n/a' if anon is None else f'{anon:.0f} MB'} |",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--format", choices=FORMATS, default="jsonl", help="output format")
    parser.add_argument("--python", default=sys.executable, help="interpreter that runs score")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "ultrajudge-bench-scale")  # fmt: skip
    parser.add_argument("--keep", action="store_true", help="keep the output, store and records")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    source = make_rows(args.workdir / f"rows{args.rows}.jsonl", args.rows)
    run_dir = Path(tempfile.mkdtemp(prefix="run-", dir=args.workdir))
    out = run_dir / ("scored" if args.format == "folder" else f"scored.{args.format}")
    try:
        figures = run_score(args.python, source, out)
    finally:
        if not args.keep:
            shutil.rmtree(run_dir, ignore_errors=True)
    print(table(args.rows, args.format, figures))


if __name__ == "__main__":
    main()
