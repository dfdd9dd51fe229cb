"""``ultrajudge generate ...`` end to end through the CLI, on the bundled seed files, with
scripted backends (exact outputs) and tiny local models (shape and provenance), each
output then scored by ``ultrajudge score`` as it is."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ultrajudge.cli import _register, app
from ultrajudge.judge.io import load_rows

_register()
runner = CliRunner()
EXAMPLES = Path(__file__).resolve().parents[2] / "ultrajudge" / "examples"
TINY = ("-O", "dtype=float32", "-O", "device=cpu", "--max-new-tokens", "12")


def invoke(*args: object, code: int = 0) -> str:
    result = runner.invoke(app, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result.output


def script(path: Path, *entries: tuple[str | None, str]) -> str:
    import json

    lines = [
        json.dumps({"output": out} if match is None else {"match": match, "output": out})
        for match, out in entries
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return f"scripted:{path}"


def rows_of(path: Path) -> list[dict]:
    return load_rows(str(path)).to_list()


def scores(path: Path, tmp_path: Path) -> list[dict]:
    """Score a generated file with no column mapping; every completion gets a rating."""
    scored = tmp_path / f"scored-{path.stem}.jsonl"
    invoke("score", path, "--judge", "scripted:auto", "--out", scored, "--no-progress")
    out = rows_of(scored)
    for row in out:
        assert len(row["ratings"]) == len(row["completions"])
        assert set(row["rating_status"]) <= {"ok"}
    return out


def test_pool_scripted_and_tiny_then_score_and_resume(tmp_path: Path, tiny_model_dir: Path) -> None:
    model = script(tmp_path / "script.jsonl", (None, "Scripted answer."))
    out = tmp_path / "pool.parquet"
    args = (
        "generate", "pool", EXAMPLES / "seed_instructions.jsonl", "-o", out,
        "-g", f"model={model},temperature=0.8,name=scripted,system=Be brief, please",
        "-g", f"model={tiny_model_dir},temperature=1.0", *TINY, "--n", "2", "--no-progress",
    )  # fmt: skip
    output = invoke(*args)
    assert "wrote" in output and "40 made now, 0 reused" in output
    rows = rows_of(out)
    source = rows_of(EXAMPLES / "seed_instructions.jsonl")
    assert len(rows) == len(source) == 10
    for before, after in zip(source, rows):
        assert {k: after[k] for k in before} == before
        assert after["completion_models"] == [
            model,
            model,
            str(tiny_model_dir),
            str(tiny_model_dir),
        ]
        assert after["completions"][:2] == ["Scripted answer.", "Scripted answer."]
        assert after["near_duplicate"][:2] == [False, True]
        params = after["completion_params"]
        tiny = str(tiny_model_dir)
        assert [p["name"] for p in params] == ["scripted", "scripted", tiny, tiny]
        assert params[0]["system"] == "Be brief, please" and params[2]["temperature"] == 1.0
        assert params[2]["backend"].startswith("transformers:")
        assert params[2]["seed"] != params[3]["seed"]
    record = json.loads(out.with_name("pool.parquet.run.json").read_text())
    assert record["summary"]["made_now"] == 40 and record["summary"]["rows_out"] == 10
    judges = [j["id"] for j in record["judges"]]
    assert judges[0].startswith("scripted:script.jsonl:") and len(judges) == 2
    assert judges[1].startswith("transformers:") and record["command"][0] == "ultrajudge"
    assert record["settings"] == {"batch_size": 8, "max_retries": 2}
    assert len(scores(out, tmp_path)) == 10
    assert "0 made now, 40 reused" in invoke(*args)
    again = json.loads(out.with_name("pool.parquet.run.json").read_text())["summary"]
    assert again["made_now"] == 0 and again["from_store"] == 40


def test_pool_from_a_yaml_file_and_bad_specs(tmp_path: Path) -> None:
    model = script(tmp_path / "script.jsonl", (None, "Answer."))
    config = tmp_path / "pool.yaml"
    config.write_text(f"generators:\n  - model: {model}\n    temperature: 0\n")
    out = tmp_path / "pool.jsonl"
    invoke("generate", "pool", EXAMPLES / "seed_instructions.jsonl", "-o", out,
           "--generators", config, "--limit", "2", "--no-progress")  # fmt: skip
    assert [r["completions"] for r in rows_of(out)] == [["Answer."], ["Answer."]]
    output = invoke("generate", "pool", EXAMPLES / "seed_instructions.jsonl", "-o", out,
                    "-g", f"model={model},temp=0.3", code=2)  # fmt: skip
    assert "unknown generator key(s) ['temp']; valid keys are model, temperature" in output
    output = invoke("generate", "pool", EXAMPLES / "seed_instructions.jsonl", "-o", out, code=2)
    assert "pass at least one --generator" in output
    output = invoke("generate", "pool", EXAMPLES / "seed_contexts.jsonl", "-o", out,
                    "-g", f"model={model}", code=2)  # fmt: skip
    assert "column(s) ['instruction'] not found" in output and "--instruction-col" in output


def test_evol_instruct_scripted_with_answers_then_score(tmp_path: Path) -> None:
    model = script(
        tmp_path / "script.jsonl",
        ("# Original prompt\nWhat is synthetic data?",
         "# Rewritten prompt\nWhat is synthetic data, and when should a team prefer it to real data?"),
        ("# Original prompt", "Sorry"),
        (None, "An answer."),
    )  # fmt: skip
    out = tmp_path / "evol.jsonl"
    invoke("generate", "evol-instruct", EXAMPLES / "seed_instructions.jsonl", "-o", out,
           "-m", model, "--answers", "--keep-intermediate", "--max-retries", "0",
           "--no-progress")  # fmt: skip
    rows = rows_of(out)
    assert rows[0]["instruction"] == (
        "What is synthetic data, and when should a team prefer it to real data?"
    )
    assert rows[0]["original_instruction"] == "What is synthetic data?"
    assert rows[0]["evol_status"] == ["ok"] and rows[0]["evol_rounds"] == 1
    assert rows[1]["evol_status"] == ["too_short"]
    assert rows[1]["instruction"] == rows[1]["original_instruction"]
    assert rows[1]["instruction_versions"] == [rows[1]["instruction"]]
    assert all(r["completions"] == ["An answer."] for r in rows)
    assert len(scores(out, tmp_path)) == 10


def test_evol_instruct_tiny_model(tmp_path: Path, tiny_model_dir: Path) -> None:
    out = tmp_path / "evol.jsonl"
    invoke("generate", "evol-instruct", EXAMPLES / "seed_instructions.jsonl", "-o", out,
           "-m", tiny_model_dir, *TINY, "--evolutions", "2", "--limit", "3",
           "--max-retries", "0", "--no-progress")  # fmt: skip
    rows = rows_of(out)
    assert len(rows) == 3
    for row in rows:
        assert row["evol_status"][-1] in {"truncated", "ok", "too_short", "empty", "echoes_header"}
        assert len(row["evol_mutations"]) == len(row["evol_status"]) >= 1
        assert row["evol_params"]["model"] == str(tiny_model_dir)
        assert "completions" not in row


def test_evol_quality_scripted_then_score_and_tiny(tmp_path: Path, tiny_model_dir: Path) -> None:
    model = script(
        tmp_path / "script.jsonl", (None, "# Improved response\nA richer, clearer answer.")
    )
    out = tmp_path / "quality.jsonl"
    invoke("generate", "evol-quality", EXAMPLES / "seed_responses.jsonl", "-o", out,
           "-m", model, "--aspect", "details", "--no-progress")  # fmt: skip
    rows = rows_of(out)
    for row in rows:
        assert row["completions"] == [row["response"], "A richer, clearer answer."]
        assert row["completion_params"][1]["mutation"] == "details"
    assert len(scores(out, tmp_path)) == 8
    tiny = tmp_path / "quality-tiny.parquet"
    invoke("generate", "evol-quality", EXAMPLES / "seed_responses.jsonl", "-o", tiny,
           "-m", tiny_model_dir, *TINY, "--limit", "2", "--no-progress")  # fmt: skip
    for row in rows_of(tiny):
        assert row["completions"][0] == row["response"] and len(row["completions"]) <= 2
        assert len(row["evol_quality_status"]) == 1


def test_self_instruct_scripted_then_score_and_tiny(tmp_path: Path, chatty_model_dir: Path) -> None:
    model = script(
        tmp_path / "script.jsonl",
        ("# Context", "1. What is it?\n2. Why does it matter?\n3. what is it ?"),
        (None, "An answer."),
    )
    out = tmp_path / "si.jsonl"
    invoke("generate", "self-instruct", EXAMPLES / "seed_contexts.jsonl", "-o", out, "-m", model,
           "--n", "3", "--answers", "--application", "A tutor for curious adults.",
           "--no-progress")  # fmt: skip
    rows = rows_of(out)
    assert len(rows) == 12
    assert [r["instruction"] for r in rows[:2]] == ["What is it?", "Why does it matter?"]
    assert rows[0]["id"] == "ctx-00" and rows[0]["context"].startswith("Synthetic data")
    assert len(scores(out, tmp_path)) == 12
    tiny = tmp_path / "si-tiny.jsonl"
    invoke("generate", "self-instruct", EXAMPLES / "seed_contexts.jsonl", "-o", tiny,
           "-m", chatty_model_dir, *TINY, "--n", "3", "--temperature", "1.0",
           "--no-progress")  # fmt: skip
    rows = rows_of(tiny)
    assert rows and all(r["instruction"].strip() and r["query_index"] < 3 for r in rows)


def test_magpie_scripted_then_score(tmp_path: Path) -> None:
    model = script(
        tmp_path / "script.jsonl",
        ("<|start_header_id|>assistant<|end_header_id|>", "Step one: subtract 3.<|eot_id|>junk"),
        ("math problems", "How do I solve 2x + 3 = 7?<|eot_id|><|start_header_id|>assistant"),
        ("Python code", "Why is my loop slow?<|eot_id|>"),
        (None, "What should I cook tonight?<|eot_id|>"),
    )
    out = tmp_path / "magpie.jsonl"
    output = invoke("generate", "magpie", EXAMPLES / "seed_system_prompts.jsonl", "-o", out,
                    "-m", model, "--template-family", "llama3", "--no-progress")  # fmt: skip
    rows = rows_of(out)
    assert [r["instruction"] for r in rows] == [
        "How do I solve 2x + 3 = 7?",
        "Why is my loop slow?",
        "What should I cook tonight?",
    ]
    assert "duplicate: 1" in output  # the fourth system prompt got the third's question
    assert rows[0]["completions"] == ["Step one: subtract 3."]
    assert rows[0]["system_prompt"].startswith("You are an AI assistant that helps users solve")
    assert rows[0]["magpie_params"]["template"] == "builtin:llama3"
    assert len(scores(out, tmp_path)) == 3
    only = tmp_path / "only.jsonl"
    invoke("generate", "magpie", "-o", only, "-m", model, "--template-family", "llama3",
           "--system", "You help with Python code.", "--only-instruction",
           "--no-progress")  # fmt: skip
    (row,) = rows_of(only)
    assert row["instruction"] == "Why is my loop slow?" and "completions" not in row


def test_magpie_tiny_model_with_its_own_chat_template(
    tmp_path: Path, chatty_model_dir: Path
) -> None:
    out = tmp_path / "magpie.jsonl"
    invoke("generate", "magpie", EXAMPLES / "seed_system_prompts.jsonl", "-o", out,
           "-m", chatty_model_dir, *TINY, "--reply-max-new-tokens", "12", "--n", "2",
           "--turns", "2", "--reply-temperature", "1.0", "--no-progress")  # fmt: skip
    rows = rows_of(out)
    assert rows
    for row in rows:
        assert row["magpie_params"]["template"] == "tokenizer"
        assert row["conversation"][0] == {"role": "user", "content": row["instruction"]}
        assert len(row["conversation"]) in (2, 4) and row["magpie_turns"] >= 1
        assert row["completions"] == [row["conversation"][1]["content"]]
    assert len({r["instruction"] for r in rows}) == len(rows)
    scores(out, tmp_path)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("evol-instruct", EXAMPLES / "seed_instructions.jsonl"), "pass --model"),
        (("evol-instruct", EXAMPLES / "seed_instructions.jsonl", "-m", "scripted:auto",
          "--mutation", "harder"), "'harder' is not one of add_constraints"),
        (("evol-quality", EXAMPLES / "seed_instructions.jsonl", "-m", "scripted:auto"),
         "column(s) ['response'] not found"),
        (("magpie", EXAMPLES / "seed_system_prompts.jsonl", "-m", "scripted:auto",
          "--system", "x"), "not both"),
        (("magpie", "-m", "scripted:auto"), "name the model's template family"),
        (("self-instruct", EXAMPLES / "seed_contexts.jsonl", "-m", "scripted:auto",
          "-O", "nonsense"), "is not KEY=VALUE"),
    ],
)  # fmt: skip
def test_errors_say_what_to_do(tmp_path: Path, args: tuple, message: str) -> None:
    output = invoke("generate", *args, "-o", tmp_path / "out.jsonl", code=2)
    assert message in " ".join(output.replace("│", " ").split())
