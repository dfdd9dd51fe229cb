"""The Ray executor on a two-node cluster simulated on this machine (ray.cluster_utils)."""

from __future__ import annotations

import json
import os

import pytest

ray = pytest.importorskip("ray")


@pytest.fixture()
def two_nodes():
    from ray.cluster_utils import Cluster

    os.environ["RAY_AUTH_MODE"] = "disabled"
    if ray.is_initialized():
        ray.shutdown()
    cluster = Cluster(
        initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False}
    )
    cluster.add_node(num_cpus=1)
    ray.init(address=cluster.address, log_to_driver=False)
    yield cluster
    ray.shutdown()
    cluster.shutdown()


def test_two_nodes_share_the_shards_and_each_row_is_written_once(two_nodes, tmp_path):
    from ultrajudge.executors import ScoreJob, read_output
    from ultrajudge.executors.ray import RayOptions, run_on_ray
    from ultrajudge.judge.rating import RatingConfig

    src = tmp_path / "in.jsonl"
    src.write_text(
        "".join(
            json.dumps({"instruction": f"q{k}", "completions": [f"a{k}", f"b{k}"]}) + "\n"
            for k in range(12)
        )
    )
    job = ScoreJob("scripted:auto", (RatingConfig(),), options={"delay": "0.2"})
    out = str(tmp_path / "out")
    nodes: set[str] = set()
    summary = run_on_ray(
        job,
        str(src),
        out,
        RayOptions(shard_rows=2, actors=2),
        on_shard=lambda m: nodes.add(m["node"]),
    )
    assert summary.rows == 12 and summary.made_now == 12
    assert (summary.counts["shards_run"], summary.counts["failed_rows"]) == (6, 0)
    assert len(nodes) == 2  # one actor per node, both did work
    rows = read_output(out).to_pylist()
    assert [r["uj_row"] for r in rows] == list(range(12))
    assert [r["instruction"] for r in rows] == [f"q{k}" for k in range(12)]
