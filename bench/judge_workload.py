"""Seeded synthetic judging workload: instructions with 4 completions of realistic length.

Text is drawn from a Zipf-distributed inventory of pronounceable pseudo-words (plus
punctuation, numbers and the odd code line), so a BPE tokenizer trained on it splits
rare words into pieces the way a real tokenizer splits English: about 1.3 tokens per
word. Instructions have 20-80 words, completions 50-250 words.

    python bench/judge_workload.py --rows 64 --out bench/results/workload.jsonl
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

_ONSETS = [
    "",
    "b",
    "c",
    "d",
    "f",
    "g",
    "h",
    "l",
    "m",
    "n",
    "p",
    "r",
    "s",
    "t",
    "v",
    "w",
    "st",
    "tr",
]
_ONSETS += ["pl", "gr", "ch", "sh", "th", "br", "cl", "sp"]
_VOWELS = ["a", "e", "i", "o", "u", "ea", "ou", "io", "ai", "y"]
_CODAS = ["", "", "n", "r", "s", "t", "l", "nd", "st", "ng", "m", "ck", "ght", "x"]
_VERBS = ["Explain", "Write", "Describe", "List", "Summarize", "Compare", "Give", "Suggest"]


def _lexicon(rng: random.Random, size: int = 20000) -> list[str]:
    words = set()
    while len(words) < size:
        n = rng.choice([1, 1, 2, 2, 2, 3, 3, 4])
        words.add(
            "".join(
                rng.choice(_ONSETS) + rng.choice(_VOWELS) + rng.choice(_CODAS) for _ in range(n)
            )
        )
    return sorted(words, key=lambda w: (len(w), w))  # short words get the high Zipf ranks


class _Writer:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.words = _lexicon(random.Random(1234))
        self.weights = [1.0 / (rank + 10) for rank in range(len(self.words))]

    def sentence(self, n: int) -> str:
        words = self.rng.choices(self.words, self.weights, k=n)
        if self.rng.random() < 0.15:
            words[self.rng.randrange(n)] = str(self.rng.randrange(1, 2000))
        if n > 8 and self.rng.random() < 0.3:
            words[n // 2] += ","
        return " ".join(words).capitalize() + self.rng.choice([".", ".", ".", "?", "!"])

    def text(self, n_words: int) -> str:
        parts, left = [], n_words
        while left > 0:
            n = min(left, self.rng.randint(6, 22))
            parts.append(self.sentence(n))
            left -= n
            if self.rng.random() < 0.12:
                parts.append("\n\n")
            elif self.rng.random() < 0.05:
                parts.append(f"\n    {self.rng.choice(self.words)} = {self.rng.randrange(100)}\n")
        return " ".join(parts).replace(" \n", "\n").replace("\n ", "\n").strip()

    def row(self) -> dict[str, object]:
        instruction = f"{self.rng.choice(_VERBS)} " + self.text(self.rng.randint(19, 79))
        completions = [self.text(self.rng.randint(50, 250)) for _ in range(4)]
        return {"instruction": instruction, "completions": completions}


def make_rows(n: int, *, seed: int = 0) -> list[dict[str, object]]:
    """``n`` rows; the same ``seed`` gives the same rows, and a longer list starts with them."""
    writer = _Writer(seed)
    return [writer.row() for _ in range(n)]


def write_rows(path: Path, n: int, *, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for row in make_rows(n, seed=seed):
            f.write(json.dumps(row) + "\n")
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("bench/results/workload.jsonl"))
    args = ap.parse_args()
    print(write_rows(args.out, args.rows, seed=args.seed))


if __name__ == "__main__":
    main()
