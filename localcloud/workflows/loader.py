"""Reads a Workflows definition (YAML or JSON) once into typed nodes, checking its structure as the service
does at deploy time.

The result is a `Definition`: per (sub)workflow its params, defaults and a tree of `nodes.*` (each with its
name and source line). Nothing after this module looks at the raw YAML again: `compiler` validates the
nodes' variables and expressions and turns them into runnable steps.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import yaml

from . import nodes as n
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
# The docs (syntax/parallel-steps): "continueAll is the only policy currently supported".
EXCEPTION_POLICIES = ("continueAll",)


@dataclass
class WorkflowSpec:
    """One (sub)workflow: parameter names with their defaults, its raw steps as written, and its nodes."""

    name: str
    params: list[str]
    defaults: dict[str, Any]
    steps: list[Any]
    line: int | None = None
    body: list[n.Node] = field(default_factory=list)


@dataclass
class Definition:
    """A parsed, structurally valid definition: its workflows (typed nodes) and the source lines."""

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
    size = len(text.encode("utf-8"))
    if size > MAX_SOURCE_BYTES:
        raise DeploymentError(f"workflow source is {size} bytes; the limit is {MAX_SOURCE_BYTES} bytes (128 KB)")
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
    if node.tag in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float", "tag:yaml.org,2002:bool",
                    "tag:yaml.org,2002:null"):
        return _construct_scalar(node)  # type: ignore[arg-type]
    return node.value


# ---------------------------------------------------------------------------------------------- to nodes


def load_definition(text: str) -> Definition:
    """Parse a workflow source (YAML or JSON) into typed nodes, checking its structure."""
    data, lines = parse_source(text)
    return validate_definition(data, lines)


def validate_definition(data: Any, lines: dict[int, int] | None = None) -> Definition:
    """Check the structure of parsed workflow source and build its nodes; DeploymentError names step and line."""
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
            raise DeploymentError(f"workflow '{name}' has unknown key(s) {sorted(unknown)}; allowed: params, steps",
                                  line=lines.get(id(body)))
        params, defaults = _params(name, body.get("params", []), lines.get(id(body)))
        if name == "main" and len(params) > 1:
            raise DeploymentError("main workflow accepts at most one parameter (the execution argument)",
                                  line=lines.get(id(body)))
        steps = body.get("steps")
        if not isinstance(steps, list) or not steps:
            raise DeploymentError(f"workflow '{name}' needs a non-empty list of 'steps'", line=lines.get(id(body)))
        definition.workflows[name] = WorkflowSpec(name, params, defaults, steps, lines.get(id(body)))
    for spec in definition.workflows.values():
        spec.body = _Reader(definition).steps(spec.steps, [], 0, False, spec.line)
    return definition


def _params(name: str, raw: Any, line: int | None) -> tuple[list[str], dict[str, Any]]:
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
    """A step is a one-key map {name: body}; return (name, body, line of the step's name)."""
    line = lines.get(id(item), parent_line)
    if not isinstance(item, dict) or len(item) != 1:
        raise DeploymentError("each step must be a map with exactly one step name", line=line)
    (name, body), = item.items()
    if not isinstance(body, dict):
        raise DeploymentError("step body must be a map", step=str(name), line=line)
    return str(name), body, line


class _Reader:
    """One pass over raw steps: checks keys, combinations, `next` targets and limits; builds the nodes."""

    def __init__(self, definition: Definition):
        self.definition = definition
        self.lines = definition.lines

    def steps(self, items: Any, scopes: list[set[str]], parallel_depth: int, in_loop: bool,
              line: int | None) -> list[n.Node]:
        if not isinstance(items, list) or not items:
            raise DeploymentError("'steps' must be a non-empty list", line=line)
        names: set[str] = set()
        parsed = []
        for item in items:
            name, body, step_line = split_step(item, self.lines, line)
            if name in names:
                raise DeploymentError(f"duplicate step name '{name}' in the same steps list", step=name, line=step_line)
            names.add(name)
            parsed.append((name, body, step_line))
        inner = scopes + [names]
        return [self.step(name, body, step_line, inner, parallel_depth, in_loop) for name, body, step_line in parsed]

    def _next(self, target: Any, step: str, line: int | None, scopes: list[set[str]], in_loop: bool) -> str:
        ok = isinstance(target, str) and (target == "end" or (target in ("break", "continue") and in_loop)
                                          or any(target in s for s in scopes))
        if not ok:
            if target in ("break", "continue"):
                raise DeploymentError(f"'next: {target}' is only allowed inside a for loop", step=step, line=line)
            raise DeploymentError(f"next step '{target}' not found", step=step, line=line)
        return target

    def step(self, name: str, body: dict[str, Any], line: int | None, scopes: list[set[str]],
             parallel_depth: int, in_loop: bool) -> n.Node:
        unknown = set(body) - STEP_KEYS
        if unknown:
            raise DeploymentError(f"unknown step key(s) {sorted(unknown)}", step=name, line=line)
        kinds = [k for k in ("assign", "call", "switch", "for", "parallel", "try", "raise", "return", "steps")
                 if k in body]
        if ("except" in body or "retry" in body) and "try" not in body:
            raise DeploymentError("'except'/'retry' need a 'try'", step=name, line=line)
        if ("args" in body or "result" in body) and "call" not in body:
            raise DeploymentError("'args'/'result' are only allowed with 'call'", step=name, line=line)
        if len(kinds) > 1:
            raise DeploymentError(f"a step can have only one of {kinds}", step=name, line=line)
        if not kinds and "next" not in body:
            raise DeploymentError("step has no action (assign, call, switch, for, parallel, try, raise, return,"
                                  " steps or next)", step=name, line=line)
        if ("raise" in body or "return" in body) and "next" in body:
            raise DeploymentError("'next' cannot follow 'raise' or 'return'", step=name, line=line)
        next_ = self._next(body["next"], name, line, scopes, in_loop) if "next" in body else None
        kind = kinds[0] if kinds else None
        if kind == "assign":
            node: n.Node = n.Assign(name, line, next_, self._assign(body["assign"], name, line))
        elif kind == "call":
            node = self._call(body, name, line, next_)
        elif kind == "switch":
            node = self._switch(body["switch"], name, line, next_, scopes, parallel_depth, in_loop)
        elif kind == "for":
            node = self._for(body["for"], name, line, next_, parallel_depth)
        elif kind == "parallel":
            node = self._parallel(body["parallel"], name, line, next_, parallel_depth)
        elif kind == "try":
            node = self._try(body, name, line, next_, scopes, parallel_depth, in_loop)
        elif kind == "raise":
            node = n.Raise(name, line, None, body["raise"])
        elif kind == "return":
            node = n.Return(name, line, None, body["return"])
        elif kind == "steps":
            node = n.Steps(name, line, next_, self.steps(body["steps"], scopes, parallel_depth, in_loop, line))
        else:
            node = n.Jump(name, line, next_)
        return node

    def _assign(self, value: Any, step: str, line: int | None) -> list[tuple[str, Any]]:
        if not isinstance(value, list) or not value:
            raise DeploymentError("'assign' must be a non-empty list of {variable: value} maps", step=step, line=line)
        if len(value) > MAX_ASSIGNMENTS_PER_STEP:
            raise DeploymentError(
                f"'assign' has {len(value)} assignments; the limit is {MAX_ASSIGNMENTS_PER_STEP} per step",
                step=step, line=line)
        out = []
        for item in value:
            if not isinstance(item, dict) or len(item) != 1:
                raise DeploymentError("each assignment must be a map with exactly one variable", step=step, line=line)
            (target, expression), = item.items()
            out.append((str(target), expression))
        return out

    def _call(self, body: dict[str, Any], step: str, line: int | None, next_: str | None) -> n.Call:
        target = body["call"]
        if not isinstance(target, str) or not target:
            raise DeploymentError("'call' must name a function or subworkflow", step=step, line=line)
        args = body.get("args", {})
        if not isinstance(args, dict):
            raise DeploymentError("'args' must be a map of argument names to values", step=step, line=line)
        result = body.get("result")
        if "result" in body and not isinstance(result, str):
            raise DeploymentError("'result' must be a variable name", step=step, line=line)
        return n.Call(step, line, next_, target, {str(k): v for k, v in args.items()}, result)

    def _switch(self, conditions: Any, name: str, line: int | None, next_: str | None, scopes: list[set[str]],
                parallel_depth: int, in_loop: bool) -> n.Switch:
        if not isinstance(conditions, list) or not conditions:
            raise DeploymentError("'switch' must be a non-empty list of conditions", step=name, line=line)
        if len(conditions) > MAX_CONDITIONS_PER_SWITCH:
            raise DeploymentError(f"'switch' has {len(conditions)} conditions; the limit is {MAX_CONDITIONS_PER_SWITCH}",
                                  step=name, line=line)
        out = []
        for cond in conditions:
            cline = self.lines.get(id(cond), line)
            if not isinstance(cond, dict) or "condition" not in cond:
                raise DeploymentError("each switch entry needs a 'condition'", step=name, line=cline)
            unknown = set(cond) - CONDITION_KEYS
            if unknown:
                raise DeploymentError(f"unknown switch condition key(s) {sorted(unknown)}", step=name, line=cline)
            if not any(k in cond for k in ("next", "steps", "assign", "return", "raise", "call")):
                raise DeploymentError("switch condition needs next, steps, assign, call, return or raise",
                                      step=name, line=cline)
            cnext = self._next(cond["next"], name, cline, scopes, in_loop) if "next" in cond else None
            action: n.Node | None = None
            if "steps" in cond:
                action = n.Steps(name, cline, None, self.steps(cond["steps"], scopes, parallel_depth, in_loop, cline))
            elif "assign" in cond:
                action = n.Assign(name, cline, None, self._assign(cond["assign"], name, cline))
            elif "call" in cond:
                action = self._call(cond, name, cline, None)
            elif "return" in cond:
                action = n.Return(name, cline, None, cond["return"])
            elif "raise" in cond:
                action = n.Raise(name, cline, None, cond["raise"])
            out.append(n.Condition(cline, cond["condition"], action, cnext))
        return n.Switch(name, line, next_, out)

    def _loop(self, spec: Any, name: str, line: int | None, parallel_depth: int, in_parallel: bool) -> n.Loop:
        label = "parallel 'for'" if in_parallel else "'for'"
        if not isinstance(spec, dict):
            raise DeploymentError(f"{label} must be a map", step=name, line=line)
        unknown = set(spec) - FOR_KEYS
        if unknown:
            raise DeploymentError(f"unknown for key(s) {sorted(unknown)}", step=name, line=line)
        if not isinstance(spec.get("value"), str):
            raise DeploymentError("'for' needs a 'value' variable name", step=name, line=line)
        if ("in" in spec) == ("range" in spec):
            raise DeploymentError("'for' needs exactly one of 'in' or 'range'", step=name, line=line)
        if "index" in spec and "range" in spec and not in_parallel:
            raise DeploymentError("'index' cannot be used with 'range'", step=name, line=line)
        if "index" in spec and not isinstance(spec["index"], str):
            raise DeploymentError("'index' must be a variable name", step=name, line=line)
        rng = spec.get("range")
        if "range" in spec and not in_parallel and not (isinstance(rng, str) or (isinstance(rng, list) and len(rng) == 2)):
            raise DeploymentError("'range' must be a list of two numbers [begin, end]", step=name, line=line)
        # Loop bodies see only their own steps as `next` targets, plus break/continue (not in parallel ones).
        depth = parallel_depth + 1 if in_parallel else parallel_depth
        body = self.steps(spec.get("steps"), [], depth, not in_parallel, line)
        return n.Loop(spec["value"], spec.get("index"), spec.get("in"), spec.get("range"), "range" in spec, body)

    def _for(self, spec: Any, name: str, line: int | None, next_: str | None, parallel_depth: int) -> n.For:
        return n.For(name, line, next_, self._loop(spec, name, line, parallel_depth, False))

    def _parallel(self, spec: Any, name: str, line: int | None, next_: str | None, parallel_depth: int) -> n.Parallel:
        if not isinstance(spec, dict):
            raise DeploymentError("'parallel' must be a map", step=name, line=line)
        unknown = set(spec) - PARALLEL_KEYS
        if unknown:
            raise DeploymentError(f"unknown parallel key(s) {sorted(unknown)}", step=name, line=line)
        if parallel_depth + 1 > MAX_PARALLEL_NESTING:
            raise DeploymentError(
                f"ParallelNestingError: parallel steps can be nested at most {MAX_PARALLEL_NESTING} levels deep",
                step=name, line=line)
        policy = spec.get("exception_policy", "continueAll")
        if policy not in EXCEPTION_POLICIES:
            raise DeploymentError(f"exception_policy '{policy}' is not supported; continueAll is the only policy "
                                  f"(or omit it)", step=name, line=line)
        shared = spec.get("shared", [])
        if not isinstance(shared, list) or not all(isinstance(s, str) for s in shared):
            raise DeploymentError("'shared' must be a list of variable names", step=name, line=line)
        limit = spec.get("concurrency_limit")
        if limit is not None and not isinstance(limit, str) and (not isinstance(limit, int) or isinstance(limit, bool)
                                                                 or limit < 1):
            raise DeploymentError("'concurrency_limit' must be a positive integer", step=name, line=line)
        if ("branches" in spec) == ("for" in spec):
            raise DeploymentError("'parallel' needs exactly one of 'branches' or 'for'", step=name, line=line)
        if "for" in spec:
            loop = self._loop(spec["for"], name, line, parallel_depth, True)
            return n.Parallel(name, line, next_, list(shared), limit, None, loop)
        branches = spec["branches"]
        if not isinstance(branches, list) or len(branches) < 2:
            raise DeploymentError("'branches' must list at least two branches", step=name, line=line)
        if len(branches) > MAX_BRANCHES_PER_PARALLEL:
            raise DeploymentError(f"'parallel' has {len(branches)} branches; the limit is {MAX_BRANCHES_PER_PARALLEL}",
                                  step=name, line=line)
        out = []
        for item in branches:
            bname, bbody, bline = split_step(item, self.lines, line)
            if set(bbody) != {"steps"}:
                raise DeploymentError("a branch must contain only 'steps'", step=bname, line=bline)
            out.append(n.Branch(bname, bline, self.steps(bbody["steps"], [], parallel_depth + 1, False, bline)))
        return n.Parallel(name, line, next_, list(shared), limit, out, None)

    def _try(self, body: dict[str, Any], name: str, line: int | None, next_: str | None, scopes: list[set[str]],
             parallel_depth: int, in_loop: bool) -> n.Try:
        attempt = body["try"]
        if not isinstance(attempt, dict):
            raise DeploymentError("'try' must be a map (a step body or 'steps')", step=name, line=line)
        if "except" not in body and "retry" not in body:
            raise DeploymentError("'try' needs 'except' or 'retry'", step=name, line=line)
        aline = self.lines.get(id(attempt), line)
        inner = self.step(name, attempt, aline, scopes, parallel_depth, in_loop)
        except_as = None
        except_body = None
        if "except" in body:
            exc = body["except"]
            if not isinstance(exc, dict) or "steps" not in exc or set(exc) - EXCEPT_KEYS:
                raise DeploymentError("'except' must be a map with 'steps' and optional 'as'", step=name, line=line)
            if "as" in exc and not isinstance(exc["as"], str):
                raise DeploymentError("'except: as' must be a variable name", step=name, line=line)
            except_as = exc.get("as")
            except_body = self.steps(exc["steps"], scopes, parallel_depth, in_loop, line)
        retry = body.get("retry")
        if "retry" in body:
            self._check_retry(retry, name, line)
        return n.Try(name, line, next_, inner, except_as, except_body, retry)

    def _check_retry(self, retry: Any, name: str, line: int | None) -> None:
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
        if backoff is not None and (not isinstance(backoff, dict) or set(backoff) - BACKOFF_KEYS):
            raise DeploymentError("'backoff' must be a map of initial_delay, max_delay, multiplier", step=name, line=line)
        pred = retry["predicate"]
        if not isinstance(pred, str):
            raise DeploymentError("'predicate' must be an expression naming a subworkflow or function",
                                  step=name, line=line)
        inner = pred.strip()
        if inner.startswith("${") and inner.endswith("}"):
            inner = inner[2:-1].strip()
        if inner.isidentifier() and inner not in self.definition.workflows:
            raise DeploymentError(f"retry predicate '{inner}' is not a defined subworkflow", step=name, line=line)
