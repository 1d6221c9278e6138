"""Validates the typed nodes of a definition and compiles them into runnable steps.

Checks here are those that need more than structure: expressions (syntax and length), calls against the
standard library and subworkflow params, and variable scopes (a parallel branch may not assign a parent's
variable unless it is `shared`; variables created in a loop or an except block do not outlive it).
"""
from __future__ import annotations

import re
from . import expr as _expr
from . import nodes as n
from . import runtime, stdlib
from .errors import DeploymentError, WorkflowError
from .loader import Definition, WorkflowSpec, load_definition
from .program import Program, Subworkflow
from .steps import (AssignStep, Assignment, CallFunctionStep, CallSubworkflowStep, Condition, ForStep, Jump, Loop,
                    ParallelStep, RaiseStep, ReturnStep, Step, StepList, StepsStep, SwitchStep, TryStep)

_IDENT = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)")
_SIMPLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

# The blocking half of the standard library lives with the executor; registered explicitly, once.
stdlib.install(runtime.library)


def deploy(source: str) -> Program:
    """Parse, validate and compile workflow source text (YAML or JSON)."""
    return compile_definition(load_definition(source))


def compile_definition(definition: Definition) -> Program:
    """Compile a definition's nodes into a runnable Program (DeploymentError names the step and line)."""
    program = Program(definition)
    for name, spec in definition.workflows.items():
        try:
            defaults = {k: _expr.compile_value(v) for k, v in spec.defaults.items()}
        except _expr.ExpressionSyntaxError as exc:
            raise DeploymentError(f"invalid default of parameter in workflow '{name}': {exc.message}",
                                  line=spec.line) from None
        program.workflows[name] = Subworkflow(name, spec.params, defaults)
    for name, spec in definition.workflows.items():
        program.workflows[name].body = _Compiler(program, spec).steps(spec.body)
    _settle_blocking(program)
    return program


class _Compiler:
    """Compiles one workflow's nodes; tracks which variables exist for the deploy-time scope checks."""

    def __init__(self, program: Program, spec: WorkflowSpec):
        self.program = program
        self.spec = spec
        self.routine = spec.name
        self.known: set[str] = set(spec.params)
        self.forbidden: set[str] = set()

    def steps(self, body: list[n.Node]) -> StepList:
        return StepList([self.step(node) for node in body], self.routine)

    def _write(self, target: str, node: n.Node) -> None:
        m = _IDENT.match(target)
        root = m.group(1) if m else target
        if root in self.forbidden:
            raise DeploymentError(
                f"variable '{root}' is defined outside the parallel step and is not listed in 'shared'",
                step=node.name, line=node.line)
        self.known.add(root)

    def step(self, node: n.Node) -> Step:
        try:
            step = self._build(node)
        except (_expr.ExpressionSyntaxError, WorkflowError) as exc:
            message = getattr(exc, "message", None) or str(exc)
            position = getattr(exc, "position", None)
            detail = f" (at position {position})" if position is not None else ""
            raise DeploymentError(f"invalid expression: {message}{detail}", step=node.name, line=node.line) from None
        except DeploymentError as exc:
            if exc.step is None:
                raise DeploymentError(str(exc), step=node.name, line=node.line) from None
            raise
        step.name = node.name
        step.line = node.line
        step.routine = self.routine
        step.where = (self.routine, node.name)  # type: ignore[attr-defined]
        return step

    def _build(self, node: n.Node) -> Step:
        if isinstance(node, n.Assign):
            return AssignStep(self._assignments(node), node.next)
        if isinstance(node, n.Call):
            return self._call(node)
        if isinstance(node, n.Switch):
            return self._switch(node)
        if isinstance(node, n.For):
            outer = set(self.known)
            loop = self._loop(node.loop)
            self.known = outer  # loop-created variables do not outlive the loop
            return ForStep(*loop, node.next)
        if isinstance(node, n.Parallel):
            return self._parallel(node)
        if isinstance(node, n.Try):
            return self._try(node)
        if isinstance(node, n.Raise):
            return RaiseStep(_expr.compile_value(node.value))
        if isinstance(node, n.Return):
            return ReturnStep(_expr.compile_value(node.value))
        if isinstance(node, n.Steps):
            return StepsStep(self.steps(node.body), node.next)
        return Jump(node.next)

    def _assignments(self, node: n.Assign) -> list[Assignment]:
        out = []
        for target, value in node.items:
            self._write(target, node)
            m = _IDENT.match(target)
            if m is None:
                raise DeploymentError(f"invalid assignment target '{target}'")
            root = m.group(1)
            simple = _SIMPLE_NAME.match(target) is not None
            lvalue = None if simple else _expr.compile_lvalue(target)
            append = _expr.compile_append(value, root) if simple else None
            out.append(Assignment(root, lvalue, _expr.compile_value(value), append))
        return out

    def _call(self, node: n.Call) -> Step:
        if node.result is not None:
            self._write(node.result, node)
        args = {k: _expr.compile_value(v) for k, v in node.args.items()}
        target = node.target
        if target in self.program.workflows:
            spec = self.program.definition.workflows[target]
            for k in node.args:
                if k not in spec.params:
                    raise DeploymentError(f"subworkflow '{target}' has no parameter '{k}'", step=node.name, line=node.line)
            for p in spec.params:
                if p not in node.args and p not in spec.defaults:
                    raise DeploymentError(f"call to '{target}' is missing required argument '{p}'",
                                          step=node.name, line=node.line)
            return CallSubworkflowStep(self.program.workflows[target], args, node.result, node.next)
        func = stdlib.REGISTRY.get(target)
        if func is None:
            if "." not in target:
                raise DeploymentError(f"call to undefined subworkflow or function '{target}'",
                                      step=node.name, line=node.line)
            raise DeploymentError(f"call to unknown function '{target}'", step=node.name, line=node.line)
        for k in node.args:
            if k not in func.params:
                raise DeploymentError(f"function '{target}' has no argument '{k}' (expected: {', '.join(func.params)})",
                                      step=node.name, line=node.line)
        for k in func.params[: func.required]:
            if k not in node.args:
                raise DeploymentError(f"call to '{target}' is missing required argument '{k}'",
                                      step=node.name, line=node.line)
        return CallFunctionStep(func, args, node.result, node.next)

    def _switch(self, node: n.Switch) -> Step:
        out = []
        for cond in node.conditions:
            action: Step | None = None
            if cond.action is not None:
                action = self.step(cond.action)
            out.append(Condition(_expr.compile_value(cond.test), action, cond.next))
        return SwitchStep(out, node.next)

    def _loop(self, loop: n.Loop) -> tuple[Loop, StepList]:
        in_expr = _expr.compile_value(loop.in_) if not loop.is_range else None
        range_expr = _expr.compile_value(loop.range_) if loop.is_range else None
        return Loop(loop.value, loop.index, in_expr, range_expr), self.steps(loop.body)

    def _parallel(self, node: n.Parallel) -> Step:
        outer_known, outer_forbidden = self.known, self.forbidden
        forbidden = (outer_known | outer_forbidden) - set(node.shared)
        branches = None
        loop = body = None
        try:
            if node.branches is not None:
                branches = []
                for branch in node.branches:
                    self.known, self.forbidden = set(outer_known), set(forbidden)
                    branches.append((branch.name, self.steps(branch.body)))
            else:
                assert node.loop is not None
                self.known, self.forbidden = set(outer_known), set(forbidden)
                for var in (node.loop.value, node.loop.index):
                    self.forbidden.discard(var)
                loop, body = self._loop(node.loop)
        finally:
            self.known, self.forbidden = outer_known, outer_forbidden
        limit = node.concurrency_limit
        return ParallelStep(list(node.shared), _expr.compile_value(limit) if limit is not None else None,
                            branches, loop, body, node.next)

    def _try(self, node: n.Try) -> Step:
        inner = self.step(node.attempt)
        except_steps = None
        if node.except_body is not None:
            # The `as` variable and variables first assigned in the except block live only in that block.
            outer_known, outer_forbidden = set(self.known), self.forbidden
            if node.except_as is not None:
                self.known.add(node.except_as)
                self.forbidden = self.forbidden - {node.except_as}
            try:
                except_steps = self.steps(node.except_body)
            finally:
                self.known, self.forbidden = outer_known, outer_forbidden
        retry = _expr.compile_value(node.retry) if node.retry is not None else None
        return TryStep(inner, node.except_as, except_steps, retry, node.next)


def _settle_blocking(program: Program) -> None:
    """Which subworkflows wait on something (directly or through calls): fixpoint, so recursion is safe."""
    while True:
        changed = False
        for wf in program.workflows.values():
            blocking = _list_blocks(wf.body)
            if blocking != wf.blocking:
                wf.blocking = blocking
                changed = True
        if not changed:
            return


def _list_blocks(steps: StepList) -> bool:
    return any(_blocks(s) for s in steps.steps)


def _blocks(step: Step | None) -> bool:
    if step is None:
        return False
    if isinstance(step, (ParallelStep,)):
        return True
    if isinstance(step, CallFunctionStep):
        return step.blocking
    if isinstance(step, CallSubworkflowStep):
        return step.workflow.blocking
    if isinstance(step, StepsStep):
        return _list_blocks(step.body)
    if isinstance(step, ForStep):
        return _list_blocks(step.body)
    if isinstance(step, SwitchStep):
        return any(_blocks(c.action) for c in step.conditions)
    if isinstance(step, TryStep):
        return (step.retry is not None or _blocks(step.body)
                or (step.except_steps is not None and _list_blocks(step.except_steps)))
    return False


__all__ = ["deploy", "compile_definition"]
