"""The engine's public face: deploy a definition, run executions (the parts live in their own modules).

    loader    source text -> typed nodes (structure checked once)
    compiler  nodes -> steps (expressions, calls and variable scopes checked)
    steps     the step kinds, each one coroutine;  program  subworkflows and name resolution
    execution one run: limits, logs and the journal of calls leaving the engine;  frames  variables, threads
"""
from __future__ import annotations

import asyncio
from typing import Any

from .compiler import compile_definition, deploy
from .execution import (CALL_DEPTH_LIMIT, STEP_LIMIT, VARIABLE_MEMORY_LIMIT, YIELD_EVERY, Execution, LogEntry,
                        ReplayDivergence, divergence_error, error_context, error_payload, internal_error,
                        resource_limit, value_size)
from .program import Program, Subworkflow, SubworkflowRef
from .steps import MAX_CONCURRENT_BRANCHES, MAX_UNHANDLED_BRANCH_ERRORS


async def run_program(program: Program, argument: Any = None, env: dict[str, str] | None = None,
                      services: Any = None) -> Any:
    """Run a Program once in the current event loop."""
    return await Execution(program, env=env, services=services).run(argument)


def run_source(source: str, argument: Any = None, env: dict[str, str] | None = None) -> Any:
    """Deploy and run workflow source synchronously (for scripts and tests)."""
    return asyncio.run(run_program(deploy(source), argument, env))


__all__ = [
    "CALL_DEPTH_LIMIT", "STEP_LIMIT", "VARIABLE_MEMORY_LIMIT", "YIELD_EVERY", "MAX_CONCURRENT_BRANCHES",
    "MAX_UNHANDLED_BRANCH_ERRORS", "Execution", "LogEntry", "Program", "ReplayDivergence", "Subworkflow",
    "SubworkflowRef", "compile_definition", "deploy", "divergence_error", "error_context", "error_payload",
    "internal_error", "resource_limit", "run_program", "run_source", "value_size",
]
