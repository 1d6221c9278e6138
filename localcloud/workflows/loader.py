"""Reads a Workflows definition (YAML or JSON) and checks its structure the way the service does at deploy time.

The result is a `Definition`: plain Python values for every (sub)workflow plus the source line of each step,
so later errors can say where a step lives. Compiling the steps into runnable objects is `engine.compile_definition`.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import yaml

from .errors import DeploymentError

# Source size limit of the real service (128 KB of workflow source).
MAX_SOURCE_BYTES = 128 * 1024
# Per-step limits the service checks at deploy time.
MAX_ASSIGNMENTS_PER_STEP = 50
MAX_CONDITIONS_PER_SWITCH = 50
MAX_BRANCHES_PER_PARALLEL = 10
MAX_PARALLEL_NESTING = 2

STEP_KEYS = frozenset(
    {"assign", "call", "args", "result", "switch", "next", "for", "parallel", "try", "except",
     "retry", "raise", "return", "steps"}
)
CONDITION_KEYS = frozenset(
    {"condition", "next", "steps", "assign", "return", "raise", "call", "args", "result"}
)
FOR_KEYS = frozenset({"value", "index", "in", "range", "steps"})
PARALLEL_KEYS = frozenset({"exception_policy", "shared", "concurrency_limit", "branches", "for"})
RETRY_KEYS = frozenset({"predicate", "max_retries", "backoff"})
BACKOFF_KEYS = frozenset({"initial_delay", "max_delay", "multiplier"})
EXCEPT_KEYS = frozenset({"as", "steps"})
SPECIAL_TARGETS = frozenset({"end", "break", "continue"})


@dataclass
class WorkflowSpec:
    """One (sub)workflow as written: parameter names with their defaults, and its raw steps."""

    name: str
    params: list[str]
    defaults: dict[str, Any]
    steps: list[Any]
    line: int | None = None


@dataclass
class Definition:
    """A parsed, structurally valid definition: its workflows and a line for each step mapping."""

    workflows: dict[str, WorkflowSpec]
    lines: dict[int, int] = field(default_factory=dict)

    def line_of(self, obj: Any) -> int | None:
        return self.lines.get(id(obj))


# ---------------------------------------------------------------------------------------------- parsing


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """Safe YAML whose timestamps stay strings, as Workflows sees them."""


_SCALAR_LOADER: Any = None


def _construct_scalar(node: yaml.ScalarNode) -> Any:
    global _SCALAR_LOADER
    if _SCALAR_LOADER is None:
        _SCALAR_LOADER = yaml.SafeLoader("")
    return _SCALAR_LOADER.construct_object(node, deep=True)


def parse_source(text: str) -> tuple[Any, dict[int, int]]:
    """Parse YAML or JSON text into plain values and a line map; a syntax error becomes a DeploymentError."""
    if len(text.encode("utf-8")) > MAX_SOURCE_BYTES:
        raise DeploymentError(
            f"workflow source is {len(text.encode('utf-8'))} bytes; the limit is {MAX_SOURCE_BYTES} bytes (128 KB)"
        )
    lines: dict[int, int] = {}
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        if text.lstrip()[:1] in ("{", "["):
            # JSON that YAML rejects (e.g. tabs inside): take it as JSON, without line numbers.
            try:
                return json.loads(text), lines
            except ValueError:
                pass
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise DeploymentError(f"cannot parse workflow source: {problem}", line=line) from None
    if node is None:
        raise DeploymentError("workflow source is empty")
    return _convert(node, lines), lines


def _convert(node: yaml.Node, lines: dict[int, int]) -> Any:
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(_convert(key_node, lines))
            if key in out:
                raise DeploymentError(f"duplicate key '{key}'", line=key_node.start_mark.line + 1)
            out[key] = _convert(value_node, lines)
        lines[id(out)] = node.start_mark.line + 1
        return out
    if isinstance(node, yaml.SequenceNode):
        seq = [_convert(item, lines) for item in node.value]
        lines[id(seq)] = node.start_mark.line + 1
        return seq
    tag = node.tag
    if tag in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float", "tag:yaml.org,2002:bool",
               "tag:yaml.org,2002:null"):
        return _construct_scalar(node)  # type: ignore[arg-type]
    return node.value


# ---------------------------------------------------------------------------------------------- validation


def load_definition(text: str) -> Definition:
    """Parse and structurally validate a workflow source (YAML or JSON)."""
    data, lines = parse_source(text)
    return validate_definition(data, lines)


def validate_definition(data: Any, lines: dict[int, int] | None = None) -> Definition:
    """Check the structure of parsed workflow source; raise DeploymentError naming the step and line."""
    lines = lines if lines is not None else {}
    definition = Definition(workflows={}, lines=lines)
    if isinstance(data, list):
        data = {"main": {"steps": data}}
    if not isinstance(data, dict):
        raise DeploymentError("workflow source must be a map of workflows or a list of steps")
    if "main" not in data:
        raise DeploymentError("workflow source has no 'main' workflow")
    for name, body in data.items():
        if not isinstance(body, dict):
            raise DeploymentError(f"workflow '{name}' must be a map with 'steps'", line=lines.get(id(data)))
        unknown = set(body) - {"params", "steps"}
        if unknown:
            raise DeploymentError(
                f"workflow '{name}' has unknown key(s) {sorted(unknown)}; allowed: params, steps",
                line=lines.get(id(body)),
            )
        params, defaults = _validate_params(name, body.get("params", []), lines.get(id(body)))
        if name == "main" and len(params) > 1:
            raise DeploymentError("main workflow accepts at most one parameter (the execution argument)",
                                  line=lines.get(id(body)))
        steps = body.get("steps")
        if not isinstance(steps, list) or not steps:
            raise DeploymentError(f"workflow '{name}' needs a non-empty list of 'steps'", line=lines.get(id(body)))
        definition.workflows[name] = WorkflowSpec(name, params, defaults, steps, lines.get(id(body)))
    for spec in definition.workflows.values():
        _Checker(definition, spec).check()
    return definition


def _validate_params(name: str, raw: Any, line: int | None) -> tuple[list[str], dict[str, Any]]:
    if not isinstance(raw, list):
        raise DeploymentError(f"params of workflow '{name}' must be a list", line=line)
    params: list[str] = []
    defaults: dict[str, Any] = {}
    for item in raw:
        if isinstance(item, str):
            params.append(item)
        elif isinstance(item, dict) and len(item) == 1:
            (pname, default), = item.items()
            params.append(pname)
            defaults[pname] = default
        else:
            raise DeploymentError(f"param of workflow '{name}' must be a name or {{name: default}}, got {item!r}",
                                  line=line)
    if len(set(params)) != len(params):
        raise DeploymentError(f"workflow '{name}' has duplicate params", line=line)
    return params, defaults


def split_step(item: Any, lines: dict[int, int], parent_line: int | None) -> tuple[str, dict[str, Any], int | None]:
    """A step is a one-key map {name: body}; return (name, body, line)."""
    line = lines.get(id(item), parent_line)
    if not isinstance(item, dict) or len(item) != 1:
        raise DeploymentError("each step must be a map with exactly one step name", line=line)
    (name, body), = item.items()
    if not isinstance(body, dict):
        raise DeploymentError("step body must be a map", step=str(name), line=line)
    # The line of the step's name (the item mapping starts there), as the service reports it.
    return str(name), body, line


class _Checker:
    """Walks one workflow's steps: keys, combinations, `next` targets, subworkflow calls, limits."""

    def __init__(self, definition: Definition, spec: WorkflowSpec):
        self.definition = definition
        self.spec = spec
        self.lines = definition.lines

    def check(self) -> None:
        self._check_list(self.spec.steps, scopes=[], parallel_depth=0, in_loop=False, line=self.spec.line)

    def _check_list(self, items: Any, scopes: list[set[str]], parallel_depth: int, in_loop: bool,
                    line: int | None) -> None:
        if not isinstance(items, list) or not items:
            raise DeploymentError("'steps' must be a non-empty list", line=line)
        names: set[str] = set()
        parsed = []
        for item in items:
            name, body, step_line = split_step(item, self.lines, line)
            if name in names:
                raise DeploymentError(f"duplicate step name '{name}' in the same steps list",
                                      step=name, line=step_line)
            names.add(name)
            parsed.append((name, body, step_line))
        inner_scopes = scopes + [names]
        for name, body, step_line in parsed:
            self._check_step(name, body, step_line, inner_scopes, parallel_depth, in_loop)

    def _target_ok(self, target: Any, scopes: list[set[str]], in_loop: bool) -> bool:
        if not isinstance(target, str):
            return False
        if target == "end":
            return True
        if target in ("break", "continue"):
            return in_loop
        return any(target in s for s in scopes)

    def _check_next(self, target: Any, step: str, line: int | None, scopes: list[set[str]], in_loop: bool) -> None:
        if not self._target_ok(target, scopes, in_loop):
            if target in ("break", "continue"):
                raise DeploymentError(f"'next: {target}' is only allowed inside a for loop", step=step, line=line)
            raise DeploymentError(f"next step '{target}' not found", step=step, line=line)

    def _check_call(self, target: Any, step: str, line: int | None, body: dict[str, Any]) -> None:
        if not isinstance(target, str) or not target:
            raise DeploymentError("'call' must name a function or subworkflow", step=step, line=line)
        if "args" in body and not isinstance(body["args"], dict):
            raise DeploymentError("'args' must be a map of argument names to values", step=step, line=line)
        if "result" in body and not isinstance(body["result"], str):
            raise DeploymentError("'result' must be a variable name", step=step, line=line)
        if "." in target or target in self.definition.workflows:
            return
        from . import stdlib  # deferred: the standard library package is built alongside

        if target in getattr(stdlib, "REGISTRY", {}):
            return
        raise DeploymentError(f"call to undefined subworkflow or function '{target}'", step=step, line=line)

    def _check_assign(self, value: Any, step: str, line: int | None) -> None:
        if not isinstance(value, list) or not value:
            raise DeploymentError("'assign' must be a non-empty list of {variable: value} maps", step=step, line=line)
        if len(value) > MAX_ASSIGNMENTS_PER_STEP:
            raise DeploymentError(
                f"'assign' has {len(value)} assignments; the limit is {MAX_ASSIGNMENTS_PER_STEP} per step",
                step=step, line=line)
        for item in value:
            if not isinstance(item, dict) or len(item) != 1:
                raise DeploymentError("each assignment must be a map with exactly one variable", step=step, line=line)

    def _check_step(self, name: str, body: dict[str, Any], line: int | None, scopes: list[set[str]],
                    parallel_depth: int, in_loop: bool) -> None:
        unknown = set(body) - STEP_KEYS
        if unknown:
            raise DeploymentError(f"unknown step key(s) {sorted(unknown)}", step=name, line=line)
        kinds = [k for k in ("assign", "call", "switch", "for", "parallel", "try", "raise", "return", "steps")
                 if k in body]
        if "except" in body or "retry" in body:
            if "try" not in body:
                raise DeploymentError("'except'/'retry' need a 'try'", step=name, line=line)
        if ("args" in body or "result" in body) and "call" not in body:
            raise DeploymentError("'args'/'result' are only allowed with 'call'", step=name, line=line)
        if len(kinds) > 1 and not (set(kinds) <= {"assign", "next"}):
            raise DeploymentError(f"a step can have only one of {kinds}", step=name, line=line)
        if not kinds and "next" not in body:
            raise DeploymentError("step has no action (assign, call, switch, for, parallel, try, raise, return,"
                                  " steps or next)", step=name, line=line)
        if ("raise" in body or "return" in body) and "next" in body:
            raise DeploymentError("'next' cannot follow 'raise' or 'return'", step=name, line=line)
        if "next" in body:
            self._check_next(body["next"], name, line, scopes, in_loop)
        if "assign" in body:
            self._check_assign(body["assign"], name, line)
        if "call" in body:
            self._check_call(body["call"], name, line, body)
        if "switch" in body:
            self._check_switch(body["switch"], name, line, scopes, parallel_depth, in_loop)
        if "for" in body:
            self._check_for(body["for"], name, line, scopes, parallel_depth)
        if "parallel" in body:
            self._check_parallel(body["parallel"], name, line, scopes, parallel_depth)
        if "try" in body:
            self._check_try(body, name, line, scopes, parallel_depth, in_loop)
        if "steps" in body:
            self._check_list(body["steps"], scopes, parallel_depth, in_loop, line)

    def _check_switch(self, conditions: Any, name: str, line: int | None, scopes: list[set[str]],
                      parallel_depth: int, in_loop: bool) -> None:
        if not isinstance(conditions, list) or not conditions:
            raise DeploymentError("'switch' must be a non-empty list of conditions", step=name, line=line)
        if len(conditions) > MAX_CONDITIONS_PER_SWITCH:
            raise DeploymentError(
                f"'switch' has {len(conditions)} conditions; the limit is {MAX_CONDITIONS_PER_SWITCH}",
                step=name, line=line)
        for cond in conditions:
            cline = self.lines.get(id(cond), line)
            if not isinstance(cond, dict) or "condition" not in cond:
                raise DeploymentError("each switch entry needs a 'condition'", step=name, line=cline)
            unknown = set(cond) - CONDITION_KEYS
            if unknown:
                raise DeploymentError(f"unknown switch condition key(s) {sorted(unknown)}", step=name, line=cline)
            actions = [k for k in ("next", "steps", "assign", "return", "raise", "call") if k in cond]
            if not actions:
                raise DeploymentError("switch condition needs next, steps, assign, call, return or raise",
                                      step=name, line=cline)
            if "next" in cond:
                self._check_next(cond["next"], name, cline, scopes, in_loop)
            if "assign" in cond:
                self._check_assign(cond["assign"], name, cline)
            if "call" in cond:
                self._check_call(cond["call"], name, cline, cond)
            if "steps" in cond:
                self._check_list(cond["steps"], scopes, parallel_depth, in_loop, cline)

    def _check_for(self, spec: Any, name: str, line: int | None, scopes: list[set[str]], parallel_depth: int) -> None:
        if not isinstance(spec, dict):
            raise DeploymentError("'for' must be a map", step=name, line=line)
        unknown = set(spec) - FOR_KEYS
        if unknown:
            raise DeploymentError(f"unknown for key(s) {sorted(unknown)}", step=name, line=line)
        if not isinstance(spec.get("value"), str):
            raise DeploymentError("'for' needs a 'value' variable name", step=name, line=line)
        if ("in" in spec) == ("range" in spec):
            raise DeploymentError("'for' needs exactly one of 'in' or 'range'", step=name, line=line)
        if "index" in spec and "range" in spec:
            raise DeploymentError("'index' cannot be used with 'range'", step=name, line=line)
        if "index" in spec and not isinstance(spec["index"], str):
            raise DeploymentError("'index' must be a variable name", step=name, line=line)
        rng = spec.get("range")
        if "range" in spec and not (isinstance(rng, str) or (isinstance(rng, list) and len(rng) == 2)):
            raise DeploymentError("'range' must be a list of two numbers [begin, end]", step=name, line=line)
        # Loop bodies see only their own steps as `next` targets, plus break/continue.
        self._check_list(spec.get("steps"), [], parallel_depth, True, line)

    def _check_parallel(self, spec: Any, name: str, line: int | None, scopes: list[set[str]],
                        parallel_depth: int) -> None:
        if not isinstance(spec, dict):
            raise DeploymentError("'parallel' must be a map", step=name, line=line)
        unknown = set(spec) - PARALLEL_KEYS
        if unknown:
            raise DeploymentError(f"unknown parallel key(s) {sorted(unknown)}", step=name, line=line)
        if parallel_depth + 1 > MAX_PARALLEL_NESTING:
            raise DeploymentError(
                f"ParallelNestingError: parallel steps can be nested at most {MAX_PARALLEL_NESTING} levels deep",
                step=name, line=line)
        # The docs: "The default policy, continueAll, ... continueAll is the only policy currently supported."
        # "unhandled" (fail fast) is kept as a local extension for callers that relied on it.
        policy = spec.get("exception_policy", "continueAll")
        if policy not in ("continueAll", "unhandled"):
            raise DeploymentError(f"exception_policy '{policy}' is not supported; use continueAll (or omit it)",
                                  step=name, line=line)
        shared = spec.get("shared", [])
        if not isinstance(shared, list) or not all(isinstance(s, str) for s in shared):
            raise DeploymentError("'shared' must be a list of variable names", step=name, line=line)
        limit = spec.get("concurrency_limit")
        if limit is not None and not isinstance(limit, str) and (not isinstance(limit, int) or isinstance(limit, bool)
                                                                 or limit < 1):
            raise DeploymentError("'concurrency_limit' must be a positive integer", step=name, line=line)
        if ("branches" in spec) == ("for" in spec):
            raise DeploymentError("'parallel' needs exactly one of 'branches' or 'for'", step=name, line=line)
        if "branches" in spec:
            branches = spec["branches"]
            if not isinstance(branches, list) or len(branches) < 2:
                raise DeploymentError("'branches' must list at least two branches", step=name, line=line)
            if len(branches) > MAX_BRANCHES_PER_PARALLEL:
                raise DeploymentError(
                    f"'parallel' has {len(branches)} branches; the limit is {MAX_BRANCHES_PER_PARALLEL}",
                    step=name, line=line)
            for item in branches:
                bname, bbody, bline = split_step(item, self.lines, line)
                if set(bbody) != {"steps"}:
                    raise DeploymentError("a branch must contain only 'steps'", step=bname, line=bline)
                self._check_list(bbody["steps"], [], parallel_depth + 1, False, bline)
        else:
            fspec = spec["for"]
            if not isinstance(fspec, dict):
                raise DeploymentError("parallel 'for' must be a map", step=name, line=line)
            unknown = set(fspec) - FOR_KEYS
            if unknown:
                raise DeploymentError(f"unknown for key(s) {sorted(unknown)}", step=name, line=line)
            if not isinstance(fspec.get("value"), str):
                raise DeploymentError("'for' needs a 'value' variable name", step=name, line=line)
            if ("in" in fspec) == ("range" in fspec):
                raise DeploymentError("'for' needs exactly one of 'in' or 'range'", step=name, line=line)
            self._check_list(fspec.get("steps"), [], parallel_depth + 1, False, line)

    def _check_try(self, body: dict[str, Any], name: str, line: int | None, scopes: list[set[str]],
                   parallel_depth: int, in_loop: bool) -> None:
        attempt = body["try"]
        if not isinstance(attempt, dict):
            raise DeploymentError("'try' must be a map (a step body or 'steps')", step=name, line=line)
        if "except" not in body and "retry" not in body:
            raise DeploymentError("'try' needs 'except' or 'retry'", step=name, line=line)
        self._check_step(name, attempt, self.lines.get(id(attempt), line), scopes, parallel_depth, in_loop)
        if "except" in body:
            exc = body["except"]
            if not isinstance(exc, dict) or "steps" not in exc or set(exc) - EXCEPT_KEYS:
                raise DeploymentError("'except' must be a map with 'steps' and optional 'as'", step=name, line=line)
            if "as" in exc and not isinstance(exc["as"], str):
                raise DeploymentError("'except: as' must be a variable name", step=name, line=line)
            self._check_list(exc["steps"], scopes, parallel_depth, in_loop, line)
        if "retry" in body:
            retry = body["retry"]
            if isinstance(retry, str):
                return  # an expression such as ${http.default_retry}
            if not isinstance(retry, dict):
                raise DeploymentError("'retry' must be a policy expression or a map", step=name, line=line)
            unknown = set(retry) - RETRY_KEYS
            if unknown:
                raise DeploymentError(f"unknown retry key(s) {sorted(unknown)}", step=name, line=line)
            if "predicate" not in retry:
                raise DeploymentError("'retry' needs a 'predicate'", step=name, line=line)
            mr = retry.get("max_retries", 0)
            if not isinstance(mr, str) and (not isinstance(mr, int) or isinstance(mr, bool) or mr < 0):
                raise DeploymentError("'max_retries' must be a non-negative integer", step=name, line=line)
            backoff = retry.get("backoff")
            if backoff is not None:
                if not isinstance(backoff, dict) or set(backoff) - BACKOFF_KEYS:
                    raise DeploymentError("'backoff' must be a map of initial_delay, max_delay, multiplier",
                                          step=name, line=line)
            pred = retry["predicate"]
            if not isinstance(pred, str):
                raise DeploymentError("'predicate' must be an expression naming a subworkflow or function",
                                      step=name, line=line)
            inner = pred.strip()
            if inner.startswith("${") and inner.endswith("}"):
                inner = inner[2:-1].strip()
            if inner.isidentifier() and inner not in self.definition.workflows:
                raise DeploymentError(f"retry predicate '{inner}' is not a defined subworkflow", step=name, line=line)
