"""The Ray executor on a real local Ray cluster (a few logical CPUs, no dashboard, no auth):
same output as the in-process command; a killed job reruns only the unwritten shards and
judges nothing twice; a finished job reruns nothing; pairwise; a two-node cluster."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")

from typer.testing import CliRunner  # noqa: E402

from ultrajudge.cli import _register, app  # noqa: E402
from ultrajudge.executors import read_output  # noqa: E402

CLI = [sys.executable, "-c", "from ultrajudge.cli import main; main()"]


@pytest.fixture(scope="module")
def cluster():
    """One local Ray for the module; subprocesses join it with --ray-address."""
    os.environ["RAY_AUTH_MODE"] = "disabled"
    if ray.is_initialized():
        ray.shutdown()
    info = ray.init(num_cpus=4, include_dashboard=False, log_to_driver=False)
    yield info.address_info["gcs_address"]
    ray.shutdown()


def _invoke(*args: str) -> str:
    _register()
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _rows(n: int) -> list[dict]:
    return [
        {"id": k, "instruction": f"question {k}", "completions": [f"a{k}", f"b {k}", f"c{k}"]}
        for k in range(n)
    ]


def test_ray_score_equals_the_in_process_command(cluster, tmp_path, examples_file):
    import datasets

    local = tmp_path / "local.jsonl"
    _invoke(
        "score", str(examples_file), "--judge", "scripted:auto", "-o", str(local), "--no-progress"
    )
    out = tmp_path / "ray-out"
    printed = _invoke(
        "score", str(examples_file), "--judge", "scripted:auto", "-o", str(out),
        "--executor", "ray", "--shard-rows", "6", "--store", str(tmp_path / "stores"),
        "--no-progress",
    )  # fmt: skip
    assert (
        "4 shard(s) written now, 0 already done; 20 rows in all, 0 with a failed status" in printed
    )
    expected = datasets.load_dataset("json", data_files=str(local), split="train").to_list()
    got = read_output(str(out)).to_pylist()
    assert [r.pop("uj_row") for r in got] == list(range(20))
    assert got == expected
    # the run record: the judge as the actors loaded it, the same as in process
    record = json.loads((tmp_path / "ray-out.run.json").read_text())
    in_process = json.loads((tmp_path / "local.jsonl.run.json").read_text())
    assert record["judges"] == in_process["judges"] and len(record["judges"]) == 1
    assert (
        record["settings"]["executor"] == "ray" and record["settings"]["judge"] == "scripted:auto"
    )
    assert record["summary"]["made_now"] == in_process["summary"]["made_now"] > 0
    assert record["store"] == f"{tmp_path / 'stores'} (on each machine)"
    before = (tmp_path / "ray-out.run.json").read_bytes()
    again = _invoke(
        "score", str(examples_file), "--judge", "scripted:auto", "-o", str(out),
        "--executor", "ray", "--shard-rows", "6", "--store", str(tmp_path / "stores"),
        "--no-progress",
    )  # fmt: skip
    assert "0 shard(s) written now, 4 already done; 20 rows in all" in again
    assert read_output(str(out)).num_rows == 20  # no duplicates
    assert (tmp_path / "ray-out.run.json").read_bytes() == before  # no judge loaded: kept


def test_killed_job_reruns_only_what_was_not_written(cluster, tmp_path):
    from ultrajudge.executors import ScoreJob
    from ultrajudge.executors.ray import RayOptions, node_store_path, run_on_ray
    from ultrajudge.judge.rating import RatingConfig
    from ultrajudge.judge.store import ResultStore

    src = _jsonl(tmp_path / "in.jsonl", _rows(24))
    out, stores, log = tmp_path / "out", tmp_path / "stores", tmp_path / "calls.log"
    args = [
        "score", str(src), "--judge", "scripted:auto", "-O", "delay=0.25", "-O", f"log={log}",
        "--batch-size", "1", "-o", str(out), "--executor", "ray", "--ray-address", cluster,
        "--shard-rows", "3", "--actors", "2", "--store", str(stores), "--no-progress",
    ]  # fmt: skip
    env = {**os.environ, "RAY_AUTH_MODE": "disabled"}
    proc = subprocess.Popen(CLI + args, env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    done = out / "_ultrajudge" / "done"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list(done.glob("*.json"))) < 2:
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    # The actors live in the cluster's worker processes, not the killed process group: one
    # may judge (and store) another row before Ray notices the driver died. Read what the
    # kill left only once no call has been logged for a second (a call takes 0.25 s).
    calls, quiet_since = -1, time.monotonic()
    while time.monotonic() - quiet_since < 1.0 and time.monotonic() < deadline + 30:
        now = len(log.read_text().splitlines())
        calls, quiet_since = now, (quiet_since if now == calls else time.monotonic())
        time.sleep(0.1)
    finished = len(list(done.glob("*.json")))
    assert 2 <= finished < 8, "the job was not killed mid-way"
    with ResultStore(node_store_path(str(stores), str(out))) as store:
        stored = store.counts().get("rating:ok", 0)
    calls_before = len(log.read_text().splitlines())
    assert stored >= 3 * finished

    job = ScoreJob("scripted:auto", (RatingConfig(),), options={"log": str(log)}, batch_size=1)
    summary = run_on_ray(
        job, str(src), str(out), RayOptions(shard_rows=3, actors=2, store_dir=str(stores))
    )
    assert summary.counts["shards_run"] == 8 - finished
    assert summary.statuses == {"ok": 9 * (8 - finished)}  # 3 completions a row, judged now
    assert summary.made_now == 24 - stored  # the stored rows were not judged again
    assert summary.made_now + summary.from_store == 3 * (8 - finished)
    asked = log.read_text().splitlines()[calls_before:]
    assert len(asked) == 24 - stored
    rows = read_output(str(out)).to_pylist()
    assert [r["id"] for r in rows] == list(range(24))  # every id exactly once, in order
    assert all(r["rating_status"] == ["ok"] * 3 for r in rows)


def test_ray_pairwise_equals_the_in_process_command(cluster, tmp_path):
    import datasets

    from ultrajudge.cli import _register

    _register()
    verdicts = _jsonl(tmp_path / "judge.jsonl", [{"output": "Both are fine. [[A]]"}])
    pairs = _jsonl(
        tmp_path / "pairs.jsonl",
        [{"instruction": f"q{k}", "response_a": f"x{k}", "response_b": f"y{k}"} for k in range(5)],
    )
    local, out = tmp_path / "local.jsonl", tmp_path / "out"
    common = ["pairwise", str(pairs), "--judge", f"scripted:{verdicts}", "--no-progress"]
    _invoke(*common, "-o", str(local))
    _invoke(*common, "-o", str(out), "--executor", "ray", "--shard-rows", "2",
            "--store", str(tmp_path / "stores"))  # fmt: skip
    expected = datasets.load_dataset("json", data_files=str(local), split="train").to_list()
    got = read_output(str(out)).to_pylist()
    for r in got:
        r.pop("uj_row")
    assert got == expected
    assert {r["verdict_status"] for r in got} == {"ok"}


def test_bad_executor_options_are_one_line_errors(tmp_path, examples_file):
    _register()
    runner = CliRunner()
    bad = runner.invoke(app, ["score", str(examples_file), "-j", "scripted:auto", "-o",
                              str(tmp_path / "o"), "--executor", "spark"])  # fmt: skip
    assert bad.exit_code == 2 and "'spark' is not one of" in " ".join(bad.output.split())
    limited = runner.invoke(app, ["score", str(examples_file), "-j", "scripted:auto", "-o",
                                  str(tmp_path / "o"), "--executor", "ray", "--limit", "3"])  # fmt: skip
    assert limited.exit_code == 2 and "--limit is not supported" in limited.output


def test_ray_pipeline_run_equals_the_in_process_run(cluster, tmp_path, examples_file):
    import shutil

    import datasets

    shutil.copy(examples_file, tmp_path / "feedback.jsonl")
    (tmp_path / "p.yaml").write_text(
        "input: feedback.jsonl\n"
        "generate: [{pool: {generators: [{model: 'scripted:auto', name: pooled}], n: 1}}]\n"
        "judge: scripted:auto\n"
        "pairs: {strategy: best-vs-worst}\n"
        "outputs: {pairs: pairs.jsonl, scored: scored.jsonl}\n"
    )
    _invoke("run", str(tmp_path / "p.yaml"), "--workdir", str(tmp_path / "local"), "--no-progress")
    printed = _invoke("run", str(tmp_path / "p.yaml"), "--workdir", str(tmp_path / "ray"),
                      "--executor", "ray", "--shard-rows", "7", "--no-progress")  # fmt: skip
    assert "20 judged now, 0 from the store" in printed

    def load(path: Path) -> list[dict]:
        return datasets.load_dataset("json", data_files=str(path), split="train").to_list()

    for name in ("scored.jsonl", "pairs.jsonl"):
        assert load(tmp_path / "ray" / name) == load(tmp_path / "local" / name)
    again = _invoke("run", str(tmp_path / "p.yaml"), "--workdir", str(tmp_path / "ray"),
                    "--executor", "ray", "--shard-rows", "7", "--no-progress")  # fmt: skip
    assert "0 judged now, 0 from the store" in again  # every shard was already written
    assert load(tmp_path / "ray" / "scored.jsonl") == load(tmp_path / "local" / "scored.jsonl")


def test_a_worker_error_is_one_line_and_nothing_is_marked_done(cluster, tmp_path, examples_file):
    _register()
    out = tmp_path / "out"
    bad = CliRunner().invoke(app, ["score", str(examples_file), "-j", "scripted:/no/such.jsonl",
                                   "-o", str(out), "--executor", "ray", "--no-progress"])  # fmt: skip
    assert bad.exit_code == 2
    assert "error: judge 'scripted:/no/such.jsonl':" in bad.output and "Traceback" not in bad.output
    assert not list((out / "_ultrajudge" / "done").glob("*.json"))
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"instruction": "q", "completions": ["a"]}\n{"instruction": \n')
    worse = CliRunner().invoke(app, ["score", str(broken), "-j", "scripted:auto", "-o",
                                     str(tmp_path / "o2"), "--executor", "ray", "--no-progress"])  # fmt: skip
    assert worse.exit_code == 2 and "broken.jsonl: line 2 after byte 0 is not JSON" in worse.output


def test_a_judge_gone_mid_job_stops_it_with_one_line_and_marks_nothing_done(
    cluster, tmp_path, examples_file
):
    """A dead server (or a dead vLLM engine) stops the Ray job like the in-process command:
    exit 4, one line naming the judge; the stopped shard gets no part and no marker, so a
    rerun judges it again (what its store holds is not asked again)."""
    pytest.importorskip("openai")
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "judge"))
    from openai_server import OpenAITestServer

    from ultrajudge.executors.shards import OutputFolder

    with OpenAITestServer() as server:
        url = server.url  # closed at once: nothing answers there
    out = tmp_path / "ray-out"
    _register()
    result = CliRunner().invoke(app, [
        "score", str(examples_file), "--judge", "openai:m", "-O", f"base_url={url}",
        "-O", "backoff_base=0.01", "-O", "backoff_max=0.05", "--max-retries", "1",
        "-o", str(out), "--executor", "ray", "--actors", "1", "--store", str(tmp_path / "s"),
        "--no-progress",
    ])  # fmt: skip
    assert result.exit_code == 4, result.output
    (line,) = [x for x in result.output.splitlines() if x.startswith("error:")]
    assert f"openai:m@{url} (generic) is unreachable" in line and "(shard 0;" in line
    assert "rerun" in line
    assert OutputFolder(str(out)).markers() == {}


def test_a_judge_that_always_fails_exits_3_with_everything_written(
    cluster, tmp_path, examples_file
):
    script = _jsonl(tmp_path / "nonsense.jsonl", [{"output": "I cannot rate these."}])
    out = tmp_path / "ray-out"
    _register()
    result = CliRunner().invoke(app, [
        "score", str(examples_file), "--judge", f"scripted:{script}", "--max-retries", "0",
        "-o", str(out), "--executor", "ray", "--actors", "1", "--store", str(tmp_path / "s"),
        "--no-progress",
    ])  # fmt: skip
    assert result.exit_code == 3, result.output
    (line,) = [x for x in result.output.splitlines() if x.startswith("error:")]
    assert line.startswith("error: 100.0% of judgments failed, above --max-failure-rate 0.5")
    assert line.endswith("rerun with --repair to judge the failed rows again")
    assert read_output(str(out)).num_rows == 20
    assert json.loads((tmp_path / "ray-out.run.json").read_text())["summary"]["made_now"] == 20


def test_an_engine_that_dies_in_an_actor_stops_its_shards(cluster, tmp_path, examples_file):
    """EngineDied raised inside a shard: that shard and the actor's later ones come back
    ``stopped`` (no part, no marker), never as a traceback from Ray."""
    from ultrajudge.executors.jobs import ScoreJob
    from ultrajudge.executors.ray import _ShardWorker
    from ultrajudge.executors.shards import OutputFolder, plan_shards
    from ultrajudge.judge.backends.vllm import EngineDied
    from ultrajudge.judge.rating import RatingConfig

    _register()
    shards = plan_shards([str(examples_file)], 10)
    out = str(tmp_path / "ray-out")
    worker = _ShardWorker(
        ScoreJob("scripted:auto", (RatingConfig(),)), out, shards, str(tmp_path / "s"), False
    )

    def dies(*args, **kwargs):
        raise EngineDied("the vLLM engine of 'm' failed: EngineDeadError")

    worker.backend.chat = dies
    first = worker._one(shards[0])
    assert first == {"shard": 0, "stopped": "the vLLM engine of 'm' failed: EngineDeadError"}
    assert worker._one(shards[1])["stopped"] == first["stopped"]
    assert OutputFolder(out).markers() == {}
