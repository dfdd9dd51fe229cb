"""Executors: where a judging job's batches run. In process is the default (the commands'
own loop); :mod:`.ray` spreads a job over a Ray cluster (extra ``ultrajudge[ray]``).

A job (:mod:`.jobs`) is a per-batch function, rows in and rows with result columns out, so
an executor only decides where batches run and how their results are written and resumed.
"""

from ultrajudge.executors.jobs import BatchResult, PairwiseJob, RowJob, ScoreJob
from ultrajudge.executors.shards import OutputFolder, Shard, list_inputs, plan_shards, read_output

__all__ = [
    "BatchResult",
    "OutputFolder",
    "PairwiseJob",
    "RowJob",
    "ScoreJob",
    "Shard",
    "list_inputs",
    "plan_shards",
    "read_output",
]
