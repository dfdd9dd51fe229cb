"""The one-command pipeline: generate → score (one judge or a jury) → pairs → report.

One YAML file names the steps and their arguments; it is validated eagerly
(unknown keys are rejected with the valid ones listed) before any model loads::

    input: feedback.jsonl            # a file, a save_to_disk folder or a Hub id
    generate:                        # optional; run in order
      - pool: {generators: [{model: ./gen-a, temperature: 0.8}], n: 1}
      - evol_quality: {model: ./gen-b, evolutions: 1}
    jury:                            # or `judge: SPEC` for one judge
      reducer: median
      judges: [./judge-a, {name: b, model: openai:gpt-4o-mini, options: {concurrency: 8}}]
    score: {aspects: [overall], max_new_tokens: 512}
    pairs: {strategy: best-vs-random-lower, seed: 0, format: standard}
    filters: {min_margin: 1.0, outliers: iforest, near_duplicates: 0.7}
    outputs: {pairs: pairs.jsonl, dropped: dropped.jsonl, report: report.html}

Relative paths in the file (``input``, ``workdir``, and model specs naming a
folder or file that exists next to the YAML) are taken relative to the YAML's
folder. Every output goes under the work directory (``--workdir``, else the
file's ``workdir``, else ``./<name>-run``), together with the results store
``store.sqlite`` that every step goes through: a rerun after a crash or a kill
repeats no model call that was committed, and each output file is written
atomically when its step completes.

Modules: :mod:`.config` (the file), :mod:`.steps` (generate steps), :mod:`.runner`
(plan and run), :mod:`.jury` (jury scoring for ``ultrajudge score``).
"""

from ultrajudge.pipeline.config import Outputs, Pipeline, load_pipeline
from ultrajudge.pipeline.runner import PipelineRun, input_rows, plan, run_pipeline
from ultrajudge.pipeline.steps import GenerateStep

__all__ = [
    "GenerateStep",
    "Outputs",
    "Pipeline",
    "PipelineRun",
    "input_rows",
    "load_pipeline",
    "plan",
    "run_pipeline",
]
