"""The janome tokenizer, built once per process on first use (its dictionary takes ~0.15 s to load)."""
from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from janome.tokenizer import Tokenizer

_lock = threading.Lock()
_tokenizer = None


@dataclass(frozen=True)
class Token:
    """A morpheme: its surface and janome's part-of-speech string (名詞,固有名詞,人名,名 ...)."""

    surface: str
    pos: str


def tokenizer() -> "Tokenizer":
    """The shared tokenizer; janome's Tokenizer is safe to reuse for many texts."""
    global _tokenizer
    if _tokenizer is None:
        with _lock:
            if _tokenizer is None:
                from janome.tokenizer import Tokenizer

                _tokenizer = Tokenizer()
    return _tokenizer


@lru_cache(maxsize=4)
def _tokenize(text: str) -> tuple[Token, ...]:
    return tuple(Token(t.surface, t.part_of_speech) for t in tokenizer().tokenize(text))


def tokenize(text: str) -> list[Token]:
    """Morphemes of `text` in order (the last few texts are remembered: analysis asks twice)."""
    return list(_tokenize(text))


def tokenize_once(text: str) -> list[Token]:
    """Morphemes of a short text seen once (a quoted line): not remembered, so it evicts nothing."""
    return [Token(t.surface, t.part_of_speech) for t in tokenizer().tokenize(text)]
