"""Magpie: instructions drawn from an aligned model by giving it only the start of a user turn.

The pre-query prompt is the model's own chat template rendered for a
conversation that ends where a user's text would begin: the template renders a
placeholder user message and the prompt is cut at the placeholder, so whatever
the template writes around a user turn (headers, BOS, a default system prompt)
is exactly what the model saw in training. Templates without a system role
(Gemma) get the system text at the start of the user turn instead. When the
backend has no tokenizer template (an API), a built-in template of a named
family is used: ``llama3``, ``chatml`` (Qwen), ``gemma``, ``mistral``, ``phi3``
(``prompts/magpie/``).

The model continues the pre-query prompt with raw completion and stops at the
family's end-of-turn markers; that text is the instruction. The assistant reply
is generated from the same template with a generation prompt. A system prompt
steers the domain ("You are an AI assistant that helps users solve math
problems"); several turns continue the same conversation. Instructions that
are empty or were cut off by the token limit are rejected (and retried with the
next seed); exact duplicates are dropped from the output.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from importlib import resources
from typing import Any

from ultrajudge.generators.engine import Outcome, Request, Session, basic_check, seeded
from ultrajudge.generators.rows import CompletionSet, merge_row, optional_text_of, provenance
from ultrajudge.judge.backends.base import Backend
from ultrajudge.judge.errors import ConfigError
from ultrajudge.judge.types import Completion, GenerationParams, Message

_PLACEHOLDER = "MAGPIE_USER_TURN_3f9c1a"


@dataclass(frozen=True)
class Family:
    """A chat-template family: how to recognise its template, and where its turns end."""

    name: str
    markers: tuple[str, ...]  # all present in the family's chat template
    stops: tuple[str, ...]  # texts that end a turn


FAMILIES: Mapping[str, Family] = {
    f.name: f
    for f in (
        Family(
            "llama3", ("<|start_header_id|>", "<|eot_id|>"), ("<|eot_id|>", "<|start_header_id|>")
        ),
        Family("chatml", ("<|im_start|>", "<|im_end|>"), ("<|im_end|>", "<|im_start|>")),
        Family("gemma", ("<start_of_turn>", "<end_of_turn>"), ("<end_of_turn>", "<start_of_turn>")),
        Family("phi3", ("<|user|>", "<|end|>"), ("<|end|>", "<|user|>", "<|assistant|>")),
        Family("mistral", ("[INST]", "[/INST]"), ("[/INST]", "[INST]", "</s>")),
    )
}


def detect_family(chat_template: str) -> str | None:
    """The family whose markers all occur in ``chat_template``, or None."""
    return next(
        (f.name for f in FAMILIES.values() if all(m in chat_template for m in f.markers)), None
    )


def builtin_chat_template(family: str) -> str:
    """The built-in chat template of ``family`` (``prompts/magpie/<family>.jinja2``)."""
    if family not in FAMILIES:
        raise ConfigError(
            f"unknown chat-template family {family!r}; families are {', '.join(FAMILIES)}"
        )
    return (
        resources.files("ultrajudge.prompts")
        .joinpath("magpie")
        .joinpath(f"{family}.jinja2")
        .read_text("utf-8")
    )


def render_chat(
    chat_template: str,
    messages: Sequence[Message],
    *,
    add_generation_prompt: bool = False,
    special_tokens: Mapping[str, str] | None = None,
) -> str:
    """Render ``messages`` with a Hugging Face chat template string (the same sandboxed
    renderer ``apply_chat_template`` uses)."""
    from transformers.utils.chat_template_utils import render_jinja_template

    tokens: dict[str, Any] = dict(special_tokens or {})
    rendered: Any = render_jinja_template(
        conversations=[[m.as_dict() for m in messages]],
        chat_template=chat_template,
        add_generation_prompt=add_generation_prompt,
        **tokens,
    )
    return str(rendered[0][0])  # (rendered chats, generation indices)


def pre_query_prompt(
    chat_template: str,
    *,
    system: str | None = None,
    history: Sequence[Message] = (),
    special_tokens: Mapping[str, str] | None = None,
) -> str:
    """The text a chat template writes before the user's message of the next turn.

    ``history`` holds earlier user/assistant turns. If the template rejects a system
    message (it raises, as Gemma's does), the system text opens the first user turn.

    >>> t = "{% for m in messages %}<|{{ m.role }}|>{{ m.content }}<|end|>{% endfor %}"
    >>> pre_query_prompt(t, system="Be kind.")
    '<|system|>Be kind.<|end|><|user|>'
    """
    import jinja2

    placeholder = Message("user", _PLACEHOLDER)
    head = [Message("system", system)] if system else []
    try:
        text = render_chat(
            chat_template, [*head, *history, placeholder], special_tokens=special_tokens
        )
    except jinja2.TemplateError:
        if not system:
            raise
        first = (history[0] if history else placeholder).content
        merged = [Message("user", f"{system}\n\n{first}"), *history[1:]]
        turns = [*merged, placeholder] if history else merged
        text = render_chat(chat_template, turns, special_tokens=special_tokens)
    if text.count(_PLACEHOLDER) != 1:
        raise ConfigError(
            "the chat template does not write the user's message exactly once, so no "
            "pre-query prompt can be cut from it; pass a template family instead"
        )
    return text[: text.index(_PLACEHOLDER)]


@dataclass(frozen=True)
class ChatFormat:
    """A chat template with the stop texts and special tokens that go with it."""

    template: str
    stops: tuple[str, ...]
    special_tokens: Mapping[str, str] = field(default_factory=dict)
    source: str = ""  # "tokenizer" or "builtin:<family>"

    @classmethod
    def for_backend(cls, backend: Backend, family: str | None = None) -> ChatFormat:
        """The named built-in ``family``, else the backend tokenizer's own template."""
        if family:
            return cls(
                builtin_chat_template(family), FAMILIES[family].stops, {}, f"builtin:{family}"
            )
        tokenizer = getattr(backend, "tokenizer", None)
        template = getattr(tokenizer, "chat_template", None)
        if isinstance(template, Mapping):  # several named templates
            template = template.get("default")
        if not isinstance(template, str) or not template:
            raise ConfigError(
                f"backend {backend.id!r} has no chat template to build Magpie prompts from "
                "(an API server does not share its tokenizer); name the model's template family "
                f"with --template-family ({', '.join(FAMILIES)})"
            )
        tokens = {
            k: v
            for k, v in tokenizer.special_tokens_map.items()  # type: ignore[union-attr]
            if isinstance(v, str)
        }
        detected = detect_family(template)
        eos = (tokens["eos_token"],) if tokens.get("eos_token") else ()
        return cls(template, FAMILIES[detected].stops if detected else eos, tokens, "tokenizer")

    def pre_query(self, system: str | None, history: Sequence[Message]) -> str:
        return pre_query_prompt(
            self.template, system=system, history=history, special_tokens=self.special_tokens
        )

    def reply_prompt(self, system: str | None, conversation: Sequence[Message]) -> str:
        """The conversation so far, rendered up to the start of the assistant's reply."""
        import jinja2

        head = [Message("system", system)] if system else []
        try:
            return render_chat(
                self.template,
                [*head, *conversation],
                add_generation_prompt=True,
                special_tokens=self.special_tokens,
            )
        except jinja2.TemplateError:
            if not system:
                raise
            first = Message("user", f"{system}\n\n{conversation[0].content}")
            return render_chat(
                self.template,
                [first, *conversation[1:]],
                add_generation_prompt=True,
                special_tokens=self.special_tokens,
            )


def check_instruction(completion: Completion) -> Outcome:
    """Accept a generated user turn; reject an empty one or one cut off (``truncated``)."""
    text, status = basic_check(completion)
    if status == "ok" and completion.finish_reason == "length":
        return text, "truncated"
    return text, status


@dataclass(frozen=True)
class MagpieConfig:
    """How many conversations per row, how long, and how they are sampled."""

    n: int = 1  # conversations per row (per system prompt)
    turns: int = 1
    only_instruction: bool = False
    system_col: str | None = "system_prompt"  # None: no system prompt
    family: str | None = None  # None: the backend tokenizer's own template
    query_params: GenerationParams = field(
        default_factory=lambda: GenerationParams(max_new_tokens=256, temperature=1.0)
    )
    reply_params: GenerationParams = field(
        default_factory=lambda: GenerationParams(max_new_tokens=1024, temperature=0.0)
    )

    def __post_init__(self) -> None:
        if self.n < 1 or self.turns < 1:
            raise ConfigError(f"n and turns must be >= 1, got n={self.n}, turns={self.turns}")
        if self.only_instruction and self.turns > 1:
            raise ConfigError("only_instruction writes one user turn; later turns need the replies")
        if self.family is not None and self.family not in FAMILIES:
            raise ConfigError(
                f"unknown chat-template family {self.family!r}; families are {', '.join(FAMILIES)}"
            )


@dataclass
class _Conversation:
    row: int
    sample: int
    system: str | None
    messages: list[Message] = field(default_factory=list)
    status: str = "ok"
    finish_reason: str = "stop"  # of the first reply


def magpie(
    rows: Sequence[Mapping[str, Any]],
    backend: Backend,
    config: MagpieConfig,
    session: Session,
    *,
    model: str = "",
) -> list[dict[str, Any]]:
    """``n`` conversations per row. Output rows: the row's columns, ``instruction`` (the
    first user turn), ``conversation`` (user/assistant messages, without the system
    prompt), ``system_prompt``, ``magpie_turns`` (complete turns), ``magpie_status``
    (``ok``, or why the conversation ended early), ``magpie_params``, and unless
    ``only_instruction`` the first reply in ``completions``. Conversations whose first
    instruction failed, and exact duplicates of an earlier instruction, are left out."""
    if not backend.capabilities.raw_completion:
        raise ConfigError(
            f"Magpie needs raw text completion, which backend {backend.id!r} lacks; over an "
            "API that means a server with /v1/completions (e.g. -O server_kind=vllm, sglang, "
            "tgi, llamacpp or generic; api.openai.com has none for chat models)"
        )
    model = model or backend.id
    fmt = ChatFormat.for_backend(backend, config.family)
    items = [
        _Conversation(i, j, _system(row, config.system_col))
        for i, row in enumerate(rows)
        for j in range(config.n)
    ]
    seen: set[str] = set()
    out: list[dict[str, Any]] = []
    for turn in range(config.turns):
        _turn(session, backend, fmt, [c for c in items if c.status == "ok"], turn, config)
    for conv in items:
        row = _output(rows[conv.row], conv, fmt, config, backend.id, model, seen)
        if row is None:
            session.summary.dropped["duplicate" if conv.messages else conv.status] += 1
        else:
            out.append(row)
    return out


def _system(row: Mapping[str, Any], column: str | None) -> str | None:
    return None if column is None else optional_text_of(row, column)


def _turn(
    session: Session,
    backend: Backend,
    fmt: ChatFormat,
    convs: list[_Conversation],
    turn: int,
    config: MagpieConfig,
) -> None:
    queries = [
        Request(
            "magpie_query",
            fmt.pre_query(c.system, c.messages),
            replace(seeded(config.query_params, "query", c.sample, turn), stop=fmt.stops),
            fmt.source,
            check=check_instruction,
        )
        for c in convs
    ]
    asked = []
    for conv, gen in zip(convs, session.run(backend, queries, f"magpie turn {turn + 1} queries")):
        if gen.ok:
            asked.append((conv, Message("user", gen.text)))
        else:
            conv.status = gen.status
    if config.only_instruction:
        for conv, query in asked:
            conv.messages.append(query)
        return
    replies = [
        Request(
            "magpie_reply",
            fmt.reply_prompt(c.system, [*c.messages, q]),
            replace(seeded(config.reply_params, "reply", c.sample, turn), stop=fmt.stops),
            fmt.source,
        )
        for c, q in asked
    ]
    for (conv, query), gen in zip(
        asked, session.run(backend, replies, f"magpie turn {turn + 1} replies")
    ):
        if gen.ok:
            conv.messages += [query, Message("assistant", gen.text)]
            if turn == 0:
                conv.finish_reason = gen.finish_reason
        else:
            conv.status = gen.status


def _output(
    row: Mapping[str, Any],
    conv: _Conversation,
    fmt: ChatFormat,
    config: MagpieConfig,
    backend_id: str,
    model: str,
    seen: set[str],
) -> dict[str, Any] | None:
    if not conv.messages or conv.messages[0].content in seen:
        return None
    instruction = conv.messages[0].content
    seen.add(instruction)
    first_query = seeded(config.query_params, "query", conv.sample, 0)
    query = provenance("magpie", model=model, backend=backend_id, params=first_query)
    new: dict[str, Any] = {
        "instruction": instruction,
        "conversation": [m.as_dict() for m in conv.messages],
        "system_prompt": conv.system,
        "magpie_turns": sum(m.role == "assistant" for m in conv.messages),
        "magpie_status": conv.status,
        "magpie_params": {
            **query,
            "system": conv.system,
            "template": fmt.source,
            "sample": conv.sample,
        },
    }
    if not config.only_instruction:
        first_reply = seeded(config.reply_params, "reply", conv.sample, 0)
        reply = provenance("magpie", model=model, backend=backend_id, params=first_reply)
        completions = CompletionSet()
        completions.add(
            conv.messages[1].content,
            model,
            {
                **reply,
                "system": conv.system,
                "template": fmt.source,
                "sample": conv.sample,
                "finish_reason": conv.finish_reason,
            },
        )
        new.update(completions.columns())
    updates = ("system_prompt",) if config.system_col == "system_prompt" else ()
    return merge_row(
        row, new, updates=updates, stale=("completions", "completion_models", "completion_params")
    )
