"""Build tiny random chat models on disk, loadable with ``from_pretrained``.

Tests, the quickstart and the benchmarks use these instead of downloading
weights: the code path is the one a user's model takes, and a forward pass
costs what its *shape* costs, whatever the weights. Their verdicts mean nothing.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]

_WORDS = [
    "the",
    "a",
    "of",
    "to",
    "and",
    "in",
    "is",
    "that",
    "for",
    "it",
    "with",
    "as",
    "on",
    "be",
    "by",
    "this",
    "are",
    "or",
    "an",
    "from",
    "at",
    "which",
    "not",
    "rating",
    "text",
    "output",
    "rationale",
    "helpful",
    "honest",
    "truthful",
    "instruction",
    "following",
    "overall",
    "score",
    "model",
    "answer",
    "question",
    "explain",
    "write",
    "list",
    "code",
    "python",
    "data",
    "example",
    "because",
    "good",
    "bad",
    "correct",
    "incorrect",
    "response",
    "user",
    "assistant",
    "system",
    "evaluate",
    "quality",
    "clear",
]


@dataclass(frozen=True)
class TinyShape:
    """Llama-style model shape. Defaults are tiny; ``SMOLLM2_135M`` is a real one."""

    hidden_size: int = 64
    num_hidden_layers: int = 2
    num_attention_heads: int = 4
    num_key_value_heads: int = 2
    intermediate_size: int = 128
    vocab_size: int | None = None  # None: the trained tokenizer's size
    max_position_embeddings: int = 8192
    tie_word_embeddings: bool = True


SMOLLM2_135M = TinyShape(
    hidden_size=576,
    num_hidden_layers=30,
    num_attention_heads=9,
    num_key_value_heads=3,
    intermediate_size=1536,
    vocab_size=49152,
)


def _corpus(extra: Iterable[str], seed: int) -> list[str]:
    rng = random.Random(seed)
    lines = [" ".join(rng.choice(_WORDS) for _ in range(20)) for _ in range(400)]
    lines += [f"Rating: {i} Text {i} #### Output for Text {i} {i}/5" for i in range(1, 11)]
    return lines + list(extra)


def build_tokenizer(
    out_dir: Path, *, vocab_size: int = 1024, corpus: Iterable[str] = (), seed: int = 0
):
    """Train a byte-level BPE tokenizer locally and save it with a ChatML chat template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_corpus(corpus, seed), trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        chat_template=CHATML_TEMPLATE,
    )
    fast.save_pretrained(out_dir)
    return fast


def build_tiny_model(
    out_dir: str | Path,
    *,
    shape: TinyShape = TinyShape(),
    seed: int = 0,
    corpus: Iterable[str] = (),
    tokenizer_vocab: int = 1024,
) -> Path:
    """Write a random-weight Llama and its tokenizer to ``out_dir``; return the path."""
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tok = build_tokenizer(out, vocab_size=tokenizer_vocab, corpus=corpus, seed=seed)
    config = LlamaConfig(
        vocab_size=shape.vocab_size or len(tok),
        hidden_size=shape.hidden_size,
        intermediate_size=shape.intermediate_size,
        num_hidden_layers=shape.num_hidden_layers,
        num_attention_heads=shape.num_attention_heads,
        num_key_value_heads=shape.num_key_value_heads,
        max_position_embeddings=shape.max_position_embeddings,
        tie_word_embeddings=shape.tie_word_embeddings,
        bos_token_id=None,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.generation_config = GenerationConfig(
        eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id, do_sample=False
    )
    model.save_pretrained(out)
    return out
