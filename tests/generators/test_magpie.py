"""Magpie: pre-query prompts cut from real chat templates, stops, filtering, turns."""

from __future__ import annotations

import pytest

from ultrajudge.generators.engine import Session
from ultrajudge.generators.magpie import (
    FAMILIES,
    ChatFormat,
    MagpieConfig,
    builtin_chat_template,
    detect_family,
    magpie,
    pre_query_prompt,
    render_chat,
)
from ultrajudge.judge.types import GenerationParams, Message

# Chat templates as their models ship them (tokenizer_config.json "chat_template").
LLAMA3 = (
    "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = "
    "'<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim "
    "+ '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}"
    "{{ content }}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"
)
QWEN25 = """{%- if tools %}
    {{- '<|im_start|>system\\n' }}
    {%- if messages[0]['role'] == 'system' %}
        {{- messages[0]['content'] }}
    {%- else %}
        {{- 'You are Qwen, created by Alibaba Cloud. You are a helpful assistant.' }}
    {%- endif %}
    {{- "\\n\\n# Tools\\n\\nYou may call one or more functions to assist with the user query.\\n\\nYou are provided with function signatures within <tools></tools> XML tags:\\n<tools>" }}
    {%- for tool in tools %}
        {{- "\\n" }}
        {{- tool | tojson }}
    {%- endfor %}
    {{- "\\n</tools>\\n\\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\\n<tool_call>\\n{\\"name\\": <function-name>, \\"arguments\\": <args-json-object>}\\n</tool_call><|im_end|>\\n" }}
{%- else %}
    {%- if messages[0]['role'] == 'system' %}
        {{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}
    {%- else %}
        {{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\\n' }}
    {%- endif %}
{%- endif %}
{%- for message in messages %}
    {%- if (message.role == "user") or (message.role == "system" and not loop.first) or (message.role == "assistant" and not message.tool_calls) %}
        {{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}
    {%- elif message.role == "assistant" %}
        {{- '<|im_start|>' + message.role }}
        {%- if message.content %}
            {{- '\\n' + message.content }}
        {%- endif %}
        {%- for tool_call in message.tool_calls %}
            {%- if tool_call.function is defined %}
                {%- set tool_call = tool_call.function %}
            {%- endif %}
            {{- '\\n<tool_call>\\n{"name": "' }}
            {{- tool_call.name }}
            {{- '", "arguments": ' }}
            {{- tool_call.arguments | tojson }}
            {{- '}\\n</tool_call>' }}
        {%- endfor %}
        {{- '<|im_end|>\\n' }}
    {%- elif message.role == "tool" %}
        {%- if (loop.index0 == 0) or (messages[loop.index0 - 1].role != "tool") %}
            {{- '<|im_start|>user' }}
        {%- endif %}
        {{- '\\n<tool_response>\\n' }}
        {{- message.content }}
        {{- '\\n</tool_response>' }}
        {%- if loop.last or (messages[loop.index0 + 1].role != "tool") %}
            {{- '<|im_end|>\\n' }}
        {%- endif %}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\\n' }}
{%- endif %}
"""
GEMMA2 = (
    "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not "
    "supported') }}{% endif %}{% for message in messages %}{% if (message['role'] == 'user') != "
    "(loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate "
    "user/assistant/user/assistant/...') }}{% endif %}{% if (message['role'] == 'assistant') %}"
    "{% set role = 'model' %}{% else %}{% set role = message['role'] %}{% endif %}"
    "{{ '<start_of_turn>' + role + '\n' + message['content'] | trim + '<end_of_turn>\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{'<start_of_turn>model\n'}}{% endif %}"
)
MISTRAL_V02 = (
    "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != "
    "(loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate "
    "user/assistant/user/assistant/...') }}{% endif %}{% if message['role'] == 'user' %}"
    "{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' %}"
    "{{ message['content'] + eos_token}}{% else %}{{ raise_exception('Only user and assistant "
    "roles are supported!') }}{% endif %}{% endfor %}"
)
PHI3 = (
    "{% for message in messages %}{% if message['role'] == 'system' %}{{'<|system|>\n' + "
    "message['content'] + '<|end|>\n'}}{% elif message['role'] == 'user' %}{{'<|user|>\n' + "
    "message['content'] + '<|end|>\n'}}{% elif message['role'] == 'assistant' %}"
    "{{'<|assistant|>\n' + message['content'] + '<|end|>\n'}}{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% else %}{{ eos_token }}{% endif %}"
)
TOKENS = {
    "llama3": {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>"},
    "chatml": {"eos_token": "<|im_end|>"},
    "gemma": {"bos_token": "<bos>", "eos_token": "<eos>"},
    "mistral": {"bos_token": "<s>", "eos_token": "</s>"},
    "phi3": {"bos_token": "<s>", "eos_token": "<|endoftext|>"},
}
REAL = {"llama3": LLAMA3, "chatml": QWEN25, "gemma": GEMMA2, "mistral": MISTRAL_V02, "phi3": PHI3}
SYSTEM = "You are an AI assistant that helps users solve math problems."
EXPECTED = {
    "llama3": "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n"
    f"{SYSTEM}<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n",
    "chatml": f"<|im_start|>system\n{SYSTEM}<|im_end|>\n<|im_start|>user\n",
    "gemma": f"<bos><start_of_turn>user\n{SYSTEM}\n\n",
    "mistral": f"<s>[INST] {SYSTEM}\n\n",
    "phi3": f"<|system|>\n{SYSTEM}<|end|>\n<|user|>\n",
}
QUESTION = "What is 12 times 7?"
HISTORY = [Message("user", "What is 2 + 2?"), Message("assistant", "4.")]


@pytest.mark.parametrize("family", sorted(REAL))
def test_pre_query_prompt_from_the_real_template(family: str) -> None:
    prompt = pre_query_prompt(REAL[family], system=SYSTEM, special_tokens=TOKENS[family])
    assert prompt == EXPECTED[family]


@pytest.mark.parametrize("family", sorted(REAL))
@pytest.mark.parametrize("system", [SYSTEM, None])
@pytest.mark.parametrize("history", [[], HISTORY])
def test_pre_query_prompt_ends_exactly_where_the_user_text_begins(
    family: str, system: str | None, history: list[Message]
) -> None:
    """Rendering the conversation with a real question starts with the pre-query prompt,
    followed directly by the question."""
    template, tokens = REAL[family], TOKENS[family]
    prompt = pre_query_prompt(template, system=system, history=history, special_tokens=tokens)
    turns = [*history, Message("user", QUESTION)]
    if system and family in ("gemma", "mistral"):  # no system role: it opens the first user turn
        first = turns[0]
        turns[0] = Message("user", f"{system}\n\n{first.content}")
    elif system:
        turns.insert(0, Message("system", system))
    full = render_chat(template, turns, special_tokens=tokens)
    assert full.startswith(prompt)
    assert full[len(prompt) :].startswith(QUESTION)
    assert QUESTION not in prompt


@pytest.mark.parametrize("family", sorted(REAL))
def test_builtin_fallback_templates_agree_with_the_real_ones(family: str) -> None:
    fallback = builtin_chat_template(family)
    for system in (SYSTEM, None):
        for history in ([], HISTORY):
            ours = pre_query_prompt(fallback, system=system, history=history)
            real = pre_query_prompt(
                REAL[family], system=system, history=history, special_tokens=TOKENS[family]
            )
            if family == "chatml" and system is None:  # Qwen adds its own default system prompt
                real = real.replace(
                    "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a "
                    "helpful assistant.<|im_end|>\n",
                    "",
                )
            if family == "phi3":  # the real template ends with EOS only after the last turn
                real = real.replace("<|endoftext|>", "")
            assert ours == real, (family, system, history)


@pytest.mark.parametrize("family", sorted(REAL))
def test_detect_family(family: str) -> None:
    assert detect_family(REAL[family]) == family
    assert detect_family(builtin_chat_template(family)) == family
    assert detect_family("{{ messages }}") is None


def test_a_template_that_drops_the_user_message_is_an_error() -> None:
    with pytest.raises(ValueError, match="exactly once"):
        pre_query_prompt("{% for m in messages %}{{ m.role }}{% endfor %}")
    with pytest.raises(ValueError, match="unknown chat-template family 'vicuna'"):
        builtin_chat_template("vicuna")


def _conversationalist(turn_text: dict[str, str]):
    """Replies to a Llama-3-format prompt: a question when the prompt ends at a user turn."""

    def respond(prompt: str, seed: int) -> str:
        if prompt.endswith("<|start_header_id|>user<|end_header_id|>\n\n"):
            n_user = prompt.count("<|start_header_id|>user")
            topic = "math" if SYSTEM in prompt else "anything"
            default = f"Question {n_user} about {topic} (seed {seed})?"
            return turn_text.get(f"q{n_user}", default) + "<|eot_id|>more"
        n_asst = prompt.count("<|start_header_id|>assistant")
        return f"Answer {n_asst}.<|eot_id|><|start_header_id|>user"

    return respond


def test_magpie_with_a_builtin_family(session: Session, recording) -> None:
    backend = recording(_conversationalist({}))
    rows = [{"system_prompt": SYSTEM, "id": 1}, {"system_prompt": None, "id": 2}]
    config = MagpieConfig(n=2, turns=2, family="llama3")
    out = magpie(rows, backend, config, session, model="m")
    assert [(r["id"], r["magpie_params"]["sample"]) for r in out] == [
        (1, 0),
        (1, 1),
        (2, 0),
        (2, 1),
    ]
    row = out[0]
    assert row["instruction"].startswith("Question 1 about math (seed ")
    assert row["conversation"] == [
        {"role": "user", "content": row["instruction"]},
        {"role": "assistant", "content": "Answer 1."},
        {"role": "user", "content": row["conversation"][2]["content"]},
        {"role": "assistant", "content": "Answer 2."},
    ]
    assert row["completions"] == ["Answer 1."] and row["completion_models"] == ["m"]
    assert (row["magpie_turns"], row["magpie_status"], row["system_prompt"]) == (2, "ok", SYSTEM)
    assert row["magpie_params"]["template"] == "builtin:llama3"
    assert row["completion_params"][0]["temperature"] == 0.0
    assert out[0]["instruction"] != out[1]["instruction"]  # samples get different seeds
    first_query = backend.calls[0]
    assert first_query[0][0] == EXPECTED["llama3"]
    assert first_query[1].stop == FAMILIES["llama3"].stops
    assert first_query[1].temperature == 1.0


def test_magpie_only_instruction(session: Session, recording) -> None:
    backend = recording(_conversationalist({"q1": "How do I factor x^2 - 1?"}))
    config = MagpieConfig(only_instruction=True, family="llama3")
    (row,) = magpie([{"system_prompt": SYSTEM}], backend, config, session)
    assert row["instruction"] == "How do I factor x^2 - 1?"
    assert row["conversation"] == [{"role": "user", "content": row["instruction"]}]
    assert "completions" not in row and row["magpie_turns"] == 0
    assert len(backend.calls) == 1
    with pytest.raises(ValueError, match="only_instruction"):
        MagpieConfig(only_instruction=True, turns=2)


def test_magpie_drops_empty_truncated_and_duplicate_instructions(store, recording) -> None:
    def respond(prompt: str, seed: int) -> str:
        if "<|start_header_id|>assistant" in prompt:
            return "Fine."
        return {0: "", 1: "Same question?", 2: "Same question?"}.get(seed % 4, "cut off")

    backend = recording(respond)
    backend.finish = lambda text: "length" if text == "cut off" else "stop"
    session = Session(store, max_retries=0, progress=False)
    config = MagpieConfig(n=12, family="llama3")
    out = magpie([{}], backend, config, session)
    assert [r["instruction"] for r in out] == ["Same question?"]
    dropped = session.summary.dropped
    assert set(dropped) == {"empty", "truncated", "duplicate"} and sum(dropped.values()) == 11


def test_magpie_uses_the_backend_tokenizer_template(session: Session, recording) -> None:
    class Tokenizer:
        chat_template = GEMMA2

        @property
        def special_tokens_map(self) -> dict[str, object]:
            return {"bos_token": "<bos>", "eos_token": "<eos>", "additional": ["x"]}

    backend = recording(lambda p, s: "A question?<end_of_turn>" if p.endswith("\n\n") else "Reply.")
    backend.tokenizer = Tokenizer()  # type: ignore[attr-defined]
    fmt = ChatFormat.for_backend(backend)
    assert (fmt.source, fmt.stops) == ("tokenizer", FAMILIES["gemma"].stops)
    (row,) = magpie([{"system_prompt": SYSTEM}], backend, MagpieConfig(), session)
    assert backend.prompts[0] == EXPECTED["gemma"]
    assert backend.prompts[1] == (
        f"<bos><start_of_turn>user\n{SYSTEM}\n\nA question?<end_of_turn>\n<start_of_turn>model\n"
    )
    assert row["completions"] == ["Reply."]


def test_magpie_without_a_template_says_what_to_do(session: Session, recording) -> None:
    with pytest.raises(ValueError, match="name the model's template family"):
        magpie([{}], recording(lambda p, s: ""), MagpieConfig(), session)


def test_magpie_needs_raw_completion(session: Session, recording) -> None:
    from ultrajudge.judge.types import Capabilities

    backend = recording(lambda p, s: "", capabilities=Capabilities(raw_completion=False))
    with pytest.raises(ValueError, match="raw text completion"):
        magpie([{}], backend, MagpieConfig(family="chatml"), session)


def test_config_validation() -> None:
    with pytest.raises(ValueError, match="n and turns"):
        MagpieConfig(n=0)
    with pytest.raises(ValueError, match="unknown chat-template family"):
        MagpieConfig(family="llama2")
    assert MagpieConfig().query_params == GenerationParams(max_new_tokens=256, temperature=1.0)
