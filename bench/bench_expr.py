"""Micro-benchmark of the Workflows expression evaluator: evaluations per second of typical expressions."""
from __future__ import annotations

import time
from typing import Any

from localcloud.workflows.expr import compile_expression
from localcloud.workflows.stdlib import CallContext


class _Frame:
    """A minimal scope: one dict of variables, like an executor frame."""

    def __init__(self, variables: dict[str, Any]):
        self.variables = variables

    def get_variable(self, name: str) -> Any:
        return self.variables[name]

    def has_variable(self, name: str) -> bool:
        return name in self.variables

    def resolve_name(self, dotted: str) -> Any:
        raise KeyError(dotted)


EXPRESSIONS = [
    "i % 3 == 0 and total + i * 2 > 10",
    "total + i",
    "page.panels[i % 4].bubble_count",
    'len(text.split(story, " "))',
    'default(map.get(page, "title"), "untitled")',
]


def measure(text: str, seconds: float = 1.0) -> float:
    compiled = compile_expression(text)
    frame = _Frame({"i": 0, "total": 7, "story": "the cat sat on the mat",
                    "page": {"panels": [{"bubble_count": n} for n in range(4)]}})
    ctx = CallContext()
    evaluate = compiled.evaluate
    count = 0
    batch = 2000
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        for i in range(batch):
            frame.variables["i"] = i
            evaluate(frame, ctx)
        count += batch
        now = time.perf_counter()
        if now >= deadline:
            return count / (now - start)


def main() -> None:
    for text in EXPRESSIONS:
        print(f"{measure(text):>12,.0f} evals/s  ${{{text}}}")
    start = time.perf_counter()
    for _ in range(2000):
        compile_expression(EXPRESSIONS[0])
    print(f"{2000 / (time.perf_counter() - start):>12,.0f} compiles/s  ${{{EXPRESSIONS[0]}}}")


if __name__ == "__main__":
    main()
