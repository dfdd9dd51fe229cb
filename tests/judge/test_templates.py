from __future__ import annotations

import os
from pathlib import Path

import pytest

from ultrajudge.judge.rating import ASPECTS
from ultrajudge.judge.templates import TemplateError, builtin_templates, load_template

SNAPSHOTS = Path(__file__).parent / "snapshots"
VARIABLES = {
    "instruction": "What is the capital of Australia?",
    "completions": ["Canberra.", "Sydney is the capital."],
    "completion": "Canberra.",
}


def _render_text(name: str) -> str:
    template = load_template(name)
    variables = {
        k: v
        for k, v in VARIABLES.items()
        if k != ("completions" if "score_rationale" in name else "completion")
    }
    return "\n".join(f"<<{m.role}>>\n{m.content}" for m in template.render(**variables)) + "\n"


ULTRAFEEDBACK = [f"ultrafeedback/{a}" for a in ASPECTS] + ["score_rationale"]


@pytest.mark.parametrize("name", ULTRAFEEDBACK)
def test_rendered_prompt_matches_snapshot(name: str) -> None:
    """Prompts are part of the judge: any change must be deliberate (UPDATE_SNAPSHOTS=1)."""
    text = _render_text(name)
    snapshot = SNAPSHOTS / (name.replace("/", "__") + ".txt")
    if os.environ.get("UPDATE_SNAPSHOTS") == "1" or not snapshot.exists():
        snapshot.write_text(text, encoding="utf-8")
    assert text == snapshot.read_text(encoding="utf-8")


@pytest.mark.parametrize("aspect", ASPECTS)
def test_ultrafeedback_prompt_labels_every_text_and_asks_for_every_block(aspect: str) -> None:
    completions = ["first", "second", "third"]
    (system, user) = load_template(f"ultrafeedback/{aspect}").render(
        instruction="Q?", completions=completions
    )
    assert system.role == "system" and "1." in system.content and "5." in system.content
    for i, text in enumerate(completions, 1):
        assert f"<text {i}>\n{text}\n</text {i}>" in user.content
        assert f"#### Output for Text {i}\nRating:" in user.content
    assert "Output for Text 4" not in user.content
    assert ("N/A" in user.content) == (aspect == "honesty")


def test_every_builtin_template_lists_its_variables_in_a_header() -> None:
    for name in builtin_templates():
        source = load_template(name).source
        assert source.lstrip().startswith("{#") and "variables:" in source.split("#}")[0], name


def test_missing_variable_is_an_error_naming_it() -> None:
    with pytest.raises(
        TemplateError, match="'completions' is undefined; variables given: instruction"
    ):
        load_template("ultrafeedback/overall").render(instruction="x")


def test_user_template_renders_in_the_sandbox(tmp_path: Path) -> None:
    path = tmp_path / "mine.jinja2"
    path.write_text(
        "{% block user %}Rate {{ completions | length }} answers to: {{ instruction }}{% endblock %}"
    )
    (user,) = load_template(path).render(instruction="Hi", completions=["a", "b"])
    assert user.role == "user" and user.content == "Rate 2 answers to: Hi"

    evil = tmp_path / "evil.jinja2"
    evil.write_text(
        "{% block user %}{{ instruction.__class__.__mro__[1].__subclasses__() }}{% endblock %}"
    )
    with pytest.raises(TemplateError, match="SecurityError"):
        load_template(evil).render(instruction="x")


def test_template_errors_say_what_is_wrong(tmp_path: Path) -> None:
    with pytest.raises(TemplateError, match="built-ins: .*ultrafeedback/overall"):
        load_template("ultrafeedback/nope")
    bad = tmp_path / "bad.jinja2"
    bad.write_text("{% block user %}{{ oops }")
    with pytest.raises(TemplateError, match="line 1"):
        load_template(bad).render()
    no_user = tmp_path / "nouser.jinja2"
    no_user.write_text("{% block system %}hi{% endblock %}")
    with pytest.raises(TemplateError, match="no '\\{% block user %\\}'"):
        load_template(no_user).render()


def test_template_id_changes_with_its_source(tmp_path: Path) -> None:
    path = tmp_path / "t.jinja2"
    path.write_text("{% block user %}A{% endblock %}")
    first = load_template(path).id
    path.write_text("{% block user %}B{% endblock %}")
    assert load_template(path).id != first
