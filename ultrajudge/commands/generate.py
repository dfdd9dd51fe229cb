"""``ultrajudge generate``: write instructions and completions to score later.

Five subcommands: ``pool`` (several generators answer every instruction),
``evol-instruct`` (harder instructions), ``evol-quality`` (better responses),
``self-instruct`` (new queries from a context) and ``magpie`` (instructions
drawn from an aligned model's chat template). Each writes ``instruction`` and,
where it makes answers, ``completions``, so ``ultrajudge score`` reads the
output as it is. Every run is resumable through the results store.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer

from ultrajudge.commands._common import (
    JUDGE_OPTION_HELP,
    Limit,
    Out,
    Progress,
    Source,
    Split,
    StorePath,
    echo_api_usage,
    fail,
    friendly_errors,
    load_backend,
    one_of,
    parse_options,
    top_p,
)
from ultrajudge.commands._hub import Private, PushToHub, check_push, push_output

if TYPE_CHECKING:
    from ultrajudge.generators.engine import Session
    from ultrajudge.judge.backends.base import Backend

app = typer.Typer(
    help=(
        "Generate instructions and completions: model pooling, Evol-Instruct, EvolQuality, "
        "SelfInstruct and Magpie. Outputs have 'instruction' (and 'completions' where answers "
        "are written) plus provenance, ready for 'ultrajudge score'."
    ),
    no_args_is_help=True,
)


# The choices of --mutation and --aspect, checked while the options are read (before any
# model loads). Spelled out here so that `--help` does not import the generators;
# tests/generators check they equal generators.evol's MUTATIONS and ASPECTS.
MUTATION_CHOICES = ("add_constraints", "deepen", "concretize", "increase_reasoning", "breadth")
ASPECT_CHOICES = ("helpfulness", "relevance", "deepening", "creativity", "details")


def register(parent: typer.Typer) -> None:
    parent.add_typer(app, name="generate")


Model = Annotated[
    str,
    typer.Option(
        "--model",
        "-m",
        help="Local model folder, Hub id, 'scripted:FILE.jsonl', or 'openai:MODEL'.",
    ),
]
ModelOption = Annotated[
    list[str] | None,
    typer.Option("--model-option", "-O", help=JUDGE_OPTION_HELP.replace("Backend", "Model")),
]
MaxNewTokens = Annotated[int, typer.Option(min=1, help="Generation budget per prompt.")]
Temperature = Annotated[float, typer.Option(min=0.0, help="Sampling temperature (0 = greedy).")]
TopP = Annotated[
    float, typer.Option(callback=top_p, help="Nucleus sampling: a share of probability in (0, 1].")
]
Seed = Annotated[int, typer.Option(help="Seeds the per-row choices and the sampling.")]
InstructionCol = Annotated[
    str, typer.Option(help="Column with the instruction (text, or a chat: its last user turn).")
]
Answers = Annotated[
    bool, typer.Option("--answers", help="Also answer each instruction into 'completions'.")
]
BatchSize = Annotated[
    int,
    typer.Option(
        min=1, help="Rows sent to the model at a time, and committed to the store together."
    ),
]
MaxRetries = Annotated[
    int,
    typer.Option(
        min=0,
        help="Ask again at most this many times when a generation fails (429, 5xx, timeout) or is rejected by the generator's checks; a request the server refused (other 4xx) is not asked again in this run.",
    ),
]


def _options(pairs: list[str] | None) -> dict[str, str]:
    try:
        return parse_options(pairs)
    except typer.BadParameter as exc:
        raise typer.BadParameter(exc.message, param_hint="--model-option") from None


def _params(max_new_tokens: int, temperature: float, top_p: float, seed: int) -> Any:
    from ultrajudge.judge.types import GenerationParams

    return GenerationParams(
        max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p, seed=seed
    )


def _load(source: str | None, split: str, limit: int | None) -> list[dict[str, Any]]:
    from ultrajudge.judge.io import load_rows

    return [] if source is None else load_rows(source, split=split, limit=limit).to_list()


def _backend(model: str, options: list[str] | None) -> Backend:
    if not model:
        raise fail(
            "pass --model (a local model folder, a Hub id, scripted:FILE.jsonl or openai:MODEL)"
        )
    return load_backend(model, **_options(options))


def _execute(
    rows: list[dict[str, Any]],
    out: Path,
    job: Callable[[list[dict[str, Any]], Session], list[dict[str, Any]]],
    *,
    store: Path | None,
    source: str | None,
    batch_size: int,
    max_retries: int,
    progress: bool,
    push_to_hub: str | None = None,
    private: bool = False,
) -> None:
    import datasets

    from ultrajudge import __version__
    from ultrajudge.generators.engine import Session
    from ultrajudge.judge.io import check_output, save_rows
    from ultrajudge.judge.run_record import run_record, write_run_record
    from ultrajudge.judge.store import ResultStore, default_store_path

    check_push(push_to_hub, private)
    store_path = store or default_store_path(out)
    protect = (source, store_path)
    check_output(out, protect=protect)  # before any model loads
    started = time.time()
    with ResultStore(store_path) as results:
        session = Session(
            results, max_retries=max_retries, batch_size=batch_size, progress=progress
        )
        session.summary.rows = len(rows)
        written = job(rows, session)
        session.summary.rows_out = len(written)
        save_rows(datasets.Dataset.from_list(written), out, protect=protect)
    record = run_record(
        session.summary,
        version=__version__,
        command=["ultrajudge", *sys.argv[1:]],
        judges=session.backends.values(),
        settings={"batch_size": batch_size, "max_retries": max_retries},
        store=store_path,
        started=started,
    )
    write_run_record(out, record, protect=protect)
    _print_summary(session.summary, out, store_path)
    push_output(out, push_to_hub, private=private)


def _print_summary(summary: Any, out: Path, store_path: Path) -> None:
    typer.echo(f"\nwrote {out} ({summary.rows_out} rows from {summary.rows} input rows)")
    typer.echo(
        f"generations: {summary.made_now} made now, {summary.from_store} reused "
        f"(store: {store_path})"
    )
    for status, n in summary.statuses.most_common():
        typer.echo(f"  {status:<14} {n:>7}")
    if summary.dropped:
        left_out = ", ".join(f"{k}: {v}" for k, v in summary.dropped.most_common())
        typer.echo(f"left out of the output: {left_out} (failed generations are retried on rerun)")
    typer.echo(
        f"tokens: {summary.prompt_tokens} prompt, {summary.completion_tokens} generated; "
        f"time: {summary.seconds:.1f} s"
    )
    echo_api_usage(summary.api)
    if not summary.rows_out:
        typer.secho("warning: the output has no rows", fg=typer.colors.YELLOW, err=True)


def _require(
    rows: list[dict[str, Any]], columns: list[str], hint: str, source: str | None, **cells: Any
) -> None:
    """The columns exist, and every row's cells are what the generator reads (``cells``:
    :func:`~ultrajudge.generators.rows.check_rows`' keywords): checked before any model loads,
    an error names the file's line and the column."""
    from ultrajudge.generators.rows import check_rows, require_columns

    if rows:
        require_columns(list(rows[0]), columns, hint)
        check_rows(rows, source=source, **cells)


@app.command("pool")
@friendly_errors
def pool(
    source: Source,
    out: Out,
    generator: Annotated[
        list[str] | None,
        typer.Option(
            "--generator",
            "-g",
            help=(
                "A generator, repeatable: 'model=SPEC,temperature=0.9,system=Be brief'. Keys: "
                "model, temperature, top_p, system, template, name. A comma starts a new key "
                "only before KEY=, so system prompts may contain commas."
            ),
        ),
    ] = None,
    generators_file: Annotated[
        Path | None,
        typer.Option(
            "--generators",
            help="YAML file: 'generators:' then a list of {model, temperature, top_p, system, template, name, options}.",
        ),
    ] = None,
    n: Annotated[
        int, typer.Option("--n", min=1, help="Completions per generator and instruction.")
    ] = 1,
    model_option: ModelOption = None,
    similarity_threshold: Annotated[
        float,
        typer.Option(
            min=0.0,
            max=1.0,
            help="Flag a completion as near_duplicate when its word-bigram Jaccard similarity to an earlier one of the row is at least this.",
        ),
    ] = 0.7,
    instruction_col: InstructionCol = "instruction",
    completions_col: Annotated[
        str,
        typer.Option(help="The row's own completions (a list column), kept first when present."),
    ] = "completions",
    max_new_tokens: MaxNewTokens = 512,
    seed: Seed = 0,
    split: Split = "train",
    limit: Limit = None,
    batch_size: BatchSize = 8,
    max_retries: MaxRetries = 2,
    store: StorePath = None,
    progress: Progress = True,
    push_to_hub: PushToHub = None,
    private: Private = False,
) -> None:
    """Model pooling: every generator writes --n completions per instruction.

    Adds completions (after the row's own), completion_models, completion_params,
    near_duplicate, max_similarity and generation_failures.
    """
    from ultrajudge.generators.pooling import PoolConfig, parse_generator
    from ultrajudge.pipeline.build_steps import load_generators_file

    members = [parse_generator(g) for g in generator or []]
    if generators_file is not None:
        members += load_generators_file(generators_file)
    if not members:
        raise fail("pass at least one --generator 'model=...' or a --generators YAML file")
    common = _options(model_option)
    members = [replace(m, options={**common, **m.options}) for m in members]
    config = PoolConfig(
        tuple(members),
        n=n,
        max_new_tokens=max_new_tokens,
        seed=seed,
        similarity_threshold=similarity_threshold,
        instruction_col=instruction_col,
        completions_col=completions_col,
    )
    rows = _load(source, split, limit)
    _require(
        rows,
        [instruction_col],
        "pass --instruction-col",
        source,
        instruction=instruction_col,
        lists=[completions_col],
    )

    def job(rows: list[dict[str, Any]], session: Session) -> list[dict[str, Any]]:
        from ultrajudge.generators.pooling import pool_completions

        return pool_completions(rows, config, session, loader=load_backend)

    _execute(
        rows,
        out,
        job,
        store=store,
        source=source,
        batch_size=batch_size,
        max_retries=max_retries,
        progress=progress,
        push_to_hub=push_to_hub,
        private=private,
    )


@app.command("evol-instruct")
@friendly_errors
def evol_instruct(
    source: Source,
    out: Out,
    model: Model = "",
    model_option: ModelOption = None,
    evolutions: Annotated[int, typer.Option(min=1, help="Rounds of evolution.")] = 1,
    mutation: Annotated[
        list[str] | None,
        typer.Option(
            callback=one_of(MUTATION_CHOICES),
            help="Mutations to choose from per row and round, repeatable: add_constraints, deepen, concretize, increase_reasoning, breadth (default: all).",
        ),
    ] = None,
    keep_intermediate: Annotated[
        bool,
        typer.Option(
            "--keep-intermediate",
            help="Add instruction_versions: the original and every accepted evolution.",
        ),
    ] = False,
    answers: Answers = False,
    min_length_ratio: Annotated[
        float,
        typer.Option(
            min=0.0, help="Reject an evolution with fewer than this times its input's words."
        ),
    ] = 0.5,
    instruction_col: InstructionCol = "instruction",
    max_new_tokens: MaxNewTokens = 512,
    temperature: Temperature = 0.7,
    top_p: TopP = 1.0,
    seed: Seed = 0,
    split: Split = "train",
    limit: Limit = None,
    batch_size: BatchSize = 8,
    max_retries: MaxRetries = 2,
    store: StorePath = None,
    progress: Progress = True,
    push_to_hub: PushToHub = None,
    private: Private = False,
) -> None:
    """Evol-Instruct: rewrite each instruction into a harder one, --evolutions times.

    Sets instruction to the last accepted evolution (the input's is kept as
    original_instruction) and adds evol_mutations, evol_status (ok, or why a round was
    rejected: empty, truncated, echoes_header, copies_input, too_short, backend_error),
    evol_rounds and evol_params.
    """
    from ultrajudge.generators.evol import MUTATIONS, EvolInstructConfig

    config = EvolInstructConfig(
        evolutions=evolutions,
        mutations=tuple(mutation or MUTATIONS),
        params=_params(max_new_tokens, temperature, top_p, seed),
        keep_intermediate=keep_intermediate,
        answers=answers,
        min_length_ratio=min_length_ratio,
        instruction_col=instruction_col,
    )
    rows = _load(source, split, limit)
    _require(rows, [instruction_col], "pass --instruction-col", source, instruction=instruction_col)
    backend = _backend(model, model_option)

    def job(rows: list[dict[str, Any]], session: Session) -> list[dict[str, Any]]:
        from ultrajudge.generators.evol import evolve_instructions

        return evolve_instructions(rows, backend, config, session, model=model)

    _execute(
        rows,
        out,
        job,
        store=store,
        source=source,
        batch_size=batch_size,
        max_retries=max_retries,
        progress=progress,
        push_to_hub=push_to_hub,
        private=private,
    )


@app.command("evol-quality")
@friendly_errors
def evol_quality(
    source: Source,
    out: Out,
    model: Model = "",
    model_option: ModelOption = None,
    evolutions: Annotated[int, typer.Option(min=1, help="Rounds of evolution per response.")] = 1,
    aspect: Annotated[
        list[str] | None,
        typer.Option(
            callback=one_of(ASPECT_CHOICES),
            help="Aspects to choose from per response and round, repeatable: helpfulness, relevance, deepening, creativity, details (default: all).",
        ),
    ] = None,
    response_col: Annotated[
        str, typer.Option(help="Column with one response per row (unless --completions-col).")
    ] = "response",
    completions_col: Annotated[
        str | None,
        typer.Option(help="A list column of responses to evolve, instead of --response-col."),
    ] = None,
    instruction_col: InstructionCol = "instruction",
    max_new_tokens: MaxNewTokens = 512,
    temperature: Temperature = 0.7,
    top_p: TopP = 1.0,
    seed: Seed = 0,
    split: Split = "train",
    limit: Limit = None,
    batch_size: BatchSize = 8,
    max_retries: MaxRetries = 2,
    store: StorePath = None,
    progress: Progress = True,
    push_to_hub: PushToHub = None,
    private: Private = False,
) -> None:
    """EvolQuality: rewrite each response into a better one; keep both as completions.

    Adds completions (the source responses, then their evolved versions), completion_models,
    completion_params (mutation = the aspects applied, source_index = which response) and
    evol_quality_status.
    """
    from ultrajudge.generators.evol import ASPECTS, EvolQualityConfig

    config = EvolQualityConfig(
        evolutions=evolutions,
        aspects=tuple(aspect or ASPECTS),
        params=_params(max_new_tokens, temperature, top_p, seed),
        instruction_col=instruction_col,
        response_col=None if completions_col else response_col,
        completions_col=completions_col,
    )
    rows = _load(source, split, limit)
    _require(
        rows,
        [instruction_col, completions_col or response_col],
        "pass --instruction-col, and --response-col (one text) or --completions-col (a list)",
        source,
        instruction=instruction_col,
        texts=[] if completions_col else [response_col],
        lists=[completions_col] if completions_col else [],
    )
    backend = _backend(model, model_option)

    def job(rows: list[dict[str, Any]], session: Session) -> list[dict[str, Any]]:
        from ultrajudge.generators.evol import evolve_responses

        return evolve_responses(rows, backend, config, session, model=model)

    _execute(
        rows,
        out,
        job,
        store=store,
        source=source,
        batch_size=batch_size,
        max_retries=max_retries,
        progress=progress,
        push_to_hub=push_to_hub,
        private=private,
    )


@app.command("self-instruct")
@friendly_errors
def self_instruct(
    source: Source,
    out: Out,
    model: Model = "",
    model_option: ModelOption = None,
    n: Annotated[
        int,
        typer.Option("--n", min=1, help="Queries to ask for per row (at most this many kept)."),
    ] = 5,
    application: Annotated[
        str | None,
        typer.Option(help="What the AI application is and does (default: a general assistant)."),
    ] = None,
    context_col: Annotated[
        str | None,
        typer.Option(
            help="Column with the context or seed instruction (default: 'context', else 'instruction')."
        ),
    ] = None,
    answers: Answers = False,
    max_new_tokens: MaxNewTokens = 512,
    temperature: Temperature = 0.7,
    top_p: TopP = 1.0,
    seed: Seed = 0,
    split: Split = "train",
    limit: Limit = None,
    batch_size: BatchSize = 8,
    max_retries: MaxRetries = 2,
    store: StorePath = None,
    progress: Progress = True,
    push_to_hub: PushToHub = None,
    private: Private = False,
) -> None:
    """SelfInstruct: ask for --n new user queries per context; one output row per query.

    Adds instruction (the query; an input instruction is kept as original_instruction),
    query_index and self_instruct_params; with --answers, completions.
    """
    from ultrajudge.generators.self_instruct import DEFAULT_APPLICATION, SelfInstructConfig

    rows = _load(source, split, limit)
    columns = list(rows[0]) if rows else []
    column = context_col or (
        "context" if "context" in columns or "instruction" not in columns else "instruction"
    )
    _require(rows, [column], "pass --context-col", source, texts=[column])
    config = SelfInstructConfig(
        n=n,
        application=application or DEFAULT_APPLICATION,
        params=_params(max_new_tokens, temperature, top_p, seed),
        context_col=column,
        answers=answers,
    )
    backend = _backend(model, model_option)

    def job(rows: list[dict[str, Any]], session: Session) -> list[dict[str, Any]]:
        from ultrajudge.generators.self_instruct import self_instruct

        return self_instruct(rows, backend, config, session, model=model)

    _execute(
        rows,
        out,
        job,
        store=store,
        source=source,
        batch_size=batch_size,
        max_retries=max_retries,
        progress=progress,
        push_to_hub=push_to_hub,
        private=private,
    )


@app.command("magpie")
@friendly_errors
def magpie(
    out: Out,
    source: Annotated[
        str | None,
        typer.Argument(help="Optional input whose rows each give a system prompt (--system-col)."),
    ] = None,
    model: Model = "",
    model_option: ModelOption = None,
    system: Annotated[
        str | None,
        typer.Option(help="System prompt steering the domain, when no input file is given."),
    ] = None,
    system_col: Annotated[
        str, typer.Option(help="Input column with the system prompt.")
    ] = "system_prompt",
    n: Annotated[
        int, typer.Option("--n", min=1, help="Conversations per system prompt (per input row).")
    ] = 1,
    turns: Annotated[int, typer.Option(min=1, help="User/assistant turns per conversation.")] = 1,
    only_instruction: Annotated[
        bool, typer.Option("--only-instruction", help="Write the user turn only, no reply.")
    ] = False,
    template_family: Annotated[
        Literal["llama3", "chatml", "gemma", "mistral", "phi3"] | None,
        typer.Option(
            help="Use the built-in chat template of this family (llama3, chatml, gemma, mistral, phi3) instead of the model's own; needed for APIs."
        ),
    ] = None,
    max_new_tokens: Annotated[int, typer.Option(min=1, help="Token budget of a user turn.")] = 256,
    temperature: Annotated[
        float, typer.Option(min=0.0, help="Sampling temperature of user turns.")
    ] = 1.0,
    top_p: TopP = 1.0,
    reply_max_new_tokens: Annotated[
        int, typer.Option(min=1, help="Token budget of a reply.")
    ] = 1024,
    reply_temperature: Annotated[
        float, typer.Option(min=0.0, help="Sampling temperature of replies.")
    ] = 0.0,
    seed: Seed = 0,
    split: Split = "train",
    limit: Limit = None,
    batch_size: BatchSize = 8,
    max_retries: MaxRetries = 2,
    store: StorePath = None,
    progress: Progress = True,
    push_to_hub: PushToHub = None,
    private: Private = False,
) -> None:
    """Magpie: let an aligned model write the user turn from its own chat template.

    Writes instruction, conversation, system_prompt, magpie_turns, magpie_status and
    magpie_params, and unless --only-instruction the first reply in completions.
    Empty, truncated and exactly repeated instructions are left out.
    """
    from ultrajudge.generators.magpie import MagpieConfig

    if source is not None and system is not None:
        raise fail(
            "give system prompts either in the input file (--system-col) or with --system, not both"
        )
    rows = _load(source, split, limit) if source is not None else [{"system_prompt": system}]
    if source is not None:
        _require(rows, [system_col], "pass --system-col", source, optional=[system_col])
    config = MagpieConfig(
        n=n,
        turns=turns,
        only_instruction=only_instruction,
        system_col=system_col if source is not None else "system_prompt",
        family=template_family,
        query_params=_params(max_new_tokens, temperature, top_p, seed),
        reply_params=_params(reply_max_new_tokens, reply_temperature, top_p, seed),
    )
    backend = _backend(model, model_option)

    def job(rows: list[dict[str, Any]], session: Session) -> list[dict[str, Any]]:
        from ultrajudge.generators.magpie import magpie

        return magpie(rows, backend, config, session, model=model)

    _execute(
        rows,
        out,
        job,
        store=store,
        source=source,
        batch_size=batch_size,
        max_retries=max_retries,
        progress=progress,
        push_to_hub=push_to_hub,
        private=private,
    )
