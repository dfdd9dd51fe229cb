"""Instruction and completion generators built on ``judge`` backends.

Each generator is a plain function over rows (dicts) that takes a backend (or,
for pooling, model specs), a frozen config and a :class:`ultrajudge.generators.engine.Session`
(results store, retries, chunking), and returns the output rows:

* :mod:`ultrajudge.generators.pooling` — ``pool_completions``: several generators answer every instruction;
* :mod:`ultrajudge.generators.evol` — ``evolve_instructions`` (Evol-Instruct), ``evolve_responses`` (EvolQuality);
* :mod:`ultrajudge.generators.self_instruct` — ``self_instruct``: new queries from a context;
* :mod:`ultrajudge.generators.magpie` — ``magpie``: instructions from a model's own chat template.

Outputs keep every input column and write ``instruction`` / ``completions`` with
``completion_models`` and ``completion_params`` (:mod:`ultrajudge.generators.rows`).
"""

__all__ = ["engine", "evol", "magpie", "pooling", "rows", "self_instruct"]
