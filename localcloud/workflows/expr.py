"""Workflows expressions: parse the inside of ``${...}`` once, evaluate many times as closures.

Also compiles whole YAML values (``compile_value``) and assignment targets (``compile_lvalue``).
No Python eval/exec: a hand-written tokenizer and precedence parser build closures
``f(scope, ctx) -> value`` that apply the service's type rules and raise its tagged errors.
"""
from __future__ import annotations

from typing import Any, Callable, Protocol

from localcloud.workflows.errors import WorkflowError
from localcloud.workflows.stdlib import CONSTANTS, KNOWN_BLOCKING, REGISTRY, CallContext
from localcloud.workflows.values import (
    INT_MAX,
    INT_MIN,
    TAGS_KEY,
    TAGS_TYPE,
    check_int,
    writable,
    raise_index,
    raise_key,
    raise_type,
    raise_zero,
    type_name,
    values_equal,
)

# The service refuses longer expressions (Workflows quotas: "expression length: 400 characters").
MAX_EXPRESSION_LENGTH = 400
# Parser nesting guard; far above anything 400 characters can usefully hold.
MAX_NESTING = 40

Evaluator = Callable[[Any, Any], Any]


class Scope(Protocol):
    def get_variable(self, name: str) -> Any: ...
    def has_variable(self, name: str) -> bool: ...
    def resolve_name(self, dotted: str) -> Any: ...


class Compiled(Protocol):
    def evaluate(self, scope: Scope, ctx: CallContext) -> Any: ...


class ExpressionSyntaxError(Exception):
    """An expression the service would refuse at deployment; ``position`` is a 0-based offset."""

    def __init__(self, message: str, position: int = 0):
        self.message = message
        self.position = position
        super().__init__(f"{message} (at position {position})")


class CompiledExpression:
    """A compiled expression or value. ``evaluate`` is the closure itself (no extra dispatch)."""

    __slots__ = ("evaluate", "text", "is_constant", "constant")

    def __init__(self, fn: Evaluator, text: str, is_constant: bool = False, constant: Any = None):
        self.evaluate = fn
        self.text = text
        self.is_constant = is_constant
        self.constant = constant

    def __repr__(self) -> str:
        return f"<expression {self.text!r}>"


# ---------------------------------------------------------------------------------------------
# Tokenizer
# ---------------------------------------------------------------------------------------------

_TRUE = {"true", "True", "TRUE"}
_FALSE = {"false", "False", "FALSE"}
_NULL = {"null", "Null", "NULL"}
# Logical operators may be lower- or upper-case, never mixed (Workflows data types reference).
_WORD_OPS = {"and": "and", "AND": "and", "or": "or", "OR": "or", "not": "not", "NOT": "not", "in": "in"}
_TWO_CHAR = {"//", "==", "!=", "<=", ">="}
_ONE_CHAR = set("()[]{},:.+-*/%<>")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "\\": "\\", '"': '"', "'": "'", "/": "/", "0": "\0"}

# token kinds
T_INT, T_DOUBLE, T_STR, T_NAME, T_OP, T_KW, T_CONST, T_EOF = range(8)


def _tokenize(text: str) -> list[tuple[int, Any, int]]:
    tokens: list[tuple[int, Any, int]] = []
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch in " \t\r\n":
            i += 1
            continue
        start = i
        if ch.isdigit() or (ch == "." and i + 1 < n and text[i + 1].isdigit()):
            while i < n and text[i].isdigit():
                i += 1
            is_double = False
            if i < n and text[i] == "." and i + 1 < n and text[i + 1].isdigit():
                is_double = True
                i += 1
                while i < n and text[i].isdigit():
                    i += 1
            if i < n and text[i] in "eE":
                j = i + 1
                if j < n and text[j] in "+-":
                    j += 1
                if j < n and text[j].isdigit():
                    is_double = True
                    i = j
                    while i < n and text[i].isdigit():
                        i += 1
            literal = text[start:i]
            if is_double:
                tokens.append((T_DOUBLE, float(literal), start))
            else:
                value = int(literal)
                if value > INT_MAX + 1:  # INT_MAX+1 is allowed only as the operand of unary minus
                    raise ExpressionSyntaxError(f"integer literal {literal} is out of the 64-bit range", start)
                tokens.append((T_INT, value, start))
            if i < n and (text[i].isalpha() or text[i] == "_"):
                raise ExpressionSyntaxError(f"invalid number literal near {text[start:i + 1]!r}", start)
            continue
        if ch.isalpha() or ch == "_":
            while i < n and (text[i].isalnum() or text[i] == "_"):
                i += 1
            word = text[start:i]
            if word in _TRUE:
                tokens.append((T_CONST, True, start))
            elif word in _FALSE:
                tokens.append((T_CONST, False, start))
            elif word in _NULL:
                tokens.append((T_CONST, None, start))
            elif word in _WORD_OPS:
                tokens.append((T_KW, _WORD_OPS[word], start))
            else:
                tokens.append((T_NAME, word, start))
            continue
        if ch == '"' or ch == "'":
            quote = ch
            i += 1
            parts: list[str] = []
            while True:
                if i >= n:
                    raise ExpressionSyntaxError("unterminated string literal", start)
                c = text[i]
                if c == quote:
                    i += 1
                    break
                if c == "\\":
                    if i + 1 >= n:
                        raise ExpressionSyntaxError("unterminated string literal", start)
                    e = text[i + 1]
                    if e in _ESCAPES:
                        parts.append(_ESCAPES[e])
                        i += 2
                    elif e == "u":
                        hexdigits = text[i + 2 : i + 6]
                        if len(hexdigits) != 4 or not all(h in "0123456789abcdefABCDEF" for h in hexdigits):
                            raise ExpressionSyntaxError("invalid \\u escape: expected 4 hex digits", i)
                        parts.append(chr(int(hexdigits, 16)))
                        i += 6
                    else:
                        raise ExpressionSyntaxError(f"invalid escape sequence \\{e}", i)
                    continue
                parts.append(c)
                i += 1
            tokens.append((T_STR, "".join(parts), start))
            continue
        two = text[i : i + 2]
        if two in _TWO_CHAR:
            tokens.append((T_OP, two, start))
            i += 2
            continue
        if ch in _ONE_CHAR:
            tokens.append((T_OP, ch, start))
            i += 1
            continue
        if ch == "=":
            raise ExpressionSyntaxError("unexpected '=' (use '==' to compare)", start)
        raise ExpressionSyntaxError(f"unexpected character {ch!r}", start)
    tokens.append((T_EOF, None, n))
    return tokens


# ---------------------------------------------------------------------------------------------
# Parser: produces small AST tuples; a second pass turns them into closures.
# ---------------------------------------------------------------------------------------------
# AST forms:
#   ("const", value)            ("list", [nodes])            ("map", [(key_node, value_node)])
#   ("ref", (seg, ...))         ("prop", node, name)         ("index", node, node)
#   ("call", dotted_name, [args], pos)                        ("neg", node)   ("not", node)
#   ("bin", op, left, right)

_BINARY_LEVELS: list[set[str]] = [
    {"or"},
    {"and"},
    {"==", "!=", "<", "<=", ">", ">=", "in"},
    {"+", "-"},
    {"*", "/", "//", "%"},
]


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.tokens = _tokenize(text)
        self.pos = 0
        self.depth = 0

    def peek(self) -> tuple[int, Any, int]:
        return self.tokens[self.pos]

    def next(self) -> tuple[int, Any, int]:
        tok = self.tokens[self.pos]
        self.pos += 1
        return tok

    def is_op(self, value: str) -> bool:
        kind, v, _ = self.tokens[self.pos]
        return (kind == T_OP or kind == T_KW) and v == value

    def expect(self, value: str) -> tuple[int, Any, int]:
        tok = self.next()
        if (tok[0] == T_OP or tok[0] == T_KW) and tok[1] == value:
            return tok
        raise ExpressionSyntaxError(f"expected '{value}' but found {self.describe(tok)}", tok[2])

    @staticmethod
    def describe(tok: tuple[int, Any, int]) -> str:
        kind, v, _ = tok
        if kind == T_EOF:
            return "end of expression"
        if kind == T_STR:
            return f"string {v!r}"
        return f"'{v}'" if kind != T_CONST else repr(v)

    def parse_expression(self) -> tuple:
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise ExpressionSyntaxError("expression nested too deeply", self.peek()[2])
        node = self.parse_level(0)
        self.depth -= 1
        return node

    def parse_level(self, level: int) -> tuple:
        if level == len(_BINARY_LEVELS):
            return self.parse_unary()
        ops = _BINARY_LEVELS[level]
        left = self.parse_level(level + 1)
        while True:
            kind, v, _ = self.peek()
            if (kind == T_OP or kind == T_KW) and v in ops:
                self.pos += 1
                right = self.parse_level(level + 1)
                left = ("bin", v, left, right)
            else:
                return left

    def parse_unary(self) -> tuple:
        kind, v, pos = self.peek()
        if kind == T_KW and v == "not":
            self.pos += 1
            return ("not", self.parse_unary())
        if kind == T_OP and v == "-":
            self.pos += 1
            nxt = self.peek()
            if nxt[0] == T_INT and nxt[1] == INT_MAX + 1:
                # -9223372036854775808 is the one literal whose magnitude exceeds INT_MAX.
                self.pos += 1
                return self._postfix_on(("const", -nxt[1]))
            operand = self.parse_unary()
            if operand[0] == "const" and type(operand[1]) in (int, float):
                negated = -operand[1]
                if type(negated) is float or INT_MIN <= negated <= INT_MAX:
                    return ("const", negated)
            return ("neg", operand)
        if kind == T_OP and v == "+":
            raise ExpressionSyntaxError("unary '+' is not supported", pos)
        return self.parse_postfix()

    def parse_postfix(self) -> tuple:
        return self._postfix_on(self.parse_primary())

    def _postfix_on(self, node: tuple) -> tuple:
        while True:
            kind, v, pos = self.peek()
            if kind == T_OP and v == ".":
                self.pos += 1
                name_tok = self.next()
                if name_tok[0] not in (T_NAME, T_KW, T_CONST):
                    raise ExpressionSyntaxError(f"expected a property name after '.', found {self.describe(name_tok)}", name_tok[2])
                name = self._word_at(name_tok)
                node = ("prop", node, name)
            elif kind == T_OP and v == "[":
                self.pos += 1
                index = self.parse_expression()
                self.expect("]")
                node = ("index", node, index)
            elif kind == T_OP and v == "(":
                raise ExpressionSyntaxError("only named functions can be called", pos)
            else:
                return node

    def _word_at(self, tok: tuple[int, Any, int]) -> str:
        # Keywords and constants are valid property names after '.', e.g. e.in or x.null.
        if tok[0] == T_NAME:
            return tok[1]
        start = tok[2]
        end = start
        while end < len(self.text) and (self.text[end].isalnum() or self.text[end] == "_"):
            end += 1
        if end == start:
            raise ExpressionSyntaxError(f"expected a property name, found {self.describe(tok)}", start)
        return self.text[start:end]

    def parse_primary(self) -> tuple:
        kind, v, pos = self.next()
        if kind == T_INT:
            if v > INT_MAX:
                raise ExpressionSyntaxError(f"integer literal {v} is out of the 64-bit range", pos)
            return ("const", v)
        if kind in (T_DOUBLE, T_STR, T_CONST):
            return ("const", v)
        if kind == T_NAME:
            segments = [v]
            # Gather a dotted name (a.b.c) so that module functions like text.split resolve as one.
            while self.is_op(".") and self.tokens[self.pos + 1][0] in (T_NAME, T_KW, T_CONST):
                self.pos += 1
                segments.append(self._word_at(self.next()))
            if self.is_op("("):
                self.pos += 1
                args: list[tuple] = []
                if not self.is_op(")"):
                    while True:
                        args.append(self.parse_expression())
                        if self.is_op(","):
                            self.pos += 1
                            continue
                        break
                self.expect(")")
                return ("call", ".".join(segments), args, pos)
            return ("ref", tuple(segments))
        if kind == T_OP and v == "(":
            node = self.parse_expression()
            self.expect(")")
            return node
        if kind == T_OP and v == "[":
            items: list[tuple] = []
            if not self.is_op("]"):
                while True:
                    items.append(self.parse_expression())
                    if self.is_op(","):
                        self.pos += 1
                        if self.is_op("]"):  # trailing comma
                            break
                        continue
                    break
            self.expect("]")
            return ("list", items)
        if kind == T_OP and v == "{":
            entries: list[tuple[tuple, tuple]] = []
            if not self.is_op("}"):
                while True:
                    key = self.parse_expression()
                    self.expect(":")
                    value = self.parse_expression()
                    entries.append((key, value))
                    if self.is_op(","):
                        self.pos += 1
                        if self.is_op("}"):
                            break
                        continue
                    break
            self.expect("}")
            return ("map", entries)
        if kind == T_EOF:
            raise ExpressionSyntaxError("unexpected end of expression", pos)
        raise ExpressionSyntaxError(f"unexpected {self.describe((kind, v, pos))}", pos)

    def parse_all(self) -> tuple:
        if self.peek()[0] == T_EOF:
            raise ExpressionSyntaxError("empty expression", 0)
        node = self.parse_expression()
        tok = self.peek()
        if tok[0] != T_EOF:
            raise ExpressionSyntaxError(f"unexpected {self.describe(tok)} after the expression", tok[2])
        return node


# ---------------------------------------------------------------------------------------------
# Runtime helpers (the slow, general paths; closures inline the common int/str cases)
# ---------------------------------------------------------------------------------------------


def _get_property(value: Any, key: str) -> Any:
    if type(value) is dict:
        try:
            return value[key]
        except KeyError:
            raise_key(f"key not found: {key}")
    if value is None:
        raise_type(f"cannot read property '{key}' of null")
    raise_type(f"cannot read property '{key}' of a {type_name(value)}; only maps have properties")


def _get_index(value: Any, index: Any) -> Any:
    t = type(value)
    if t is list:
        if type(index) is not int:
            raise_type(f"list index must be an integer, got {type_name(index)}")
        if 0 <= index < len(value):
            return value[index]
        raise_index(f"list index {index} out of range (list length {len(value)})")
    if t is dict:
        if type(index) is not str:
            raise_type(f"map key must be a string, got {type_name(index)}")
        try:
            return value[index]
        except KeyError:
            raise_key(f"key not found: {index}")
    if value is None:
        raise_type("cannot index null")
    raise_type(f"cannot index a {type_name(value)}; only lists and maps can be indexed")


def _operand_error(op: str, a: Any, b: Any) -> None:
    raise_type(f"unsupported operand types for {op}: '{type_name(a)}' and '{type_name(b)}'")


def _num_check(op: str, a: Any, b: Any) -> None:
    ta = type(a)
    tb = type(b)
    if not ((ta is int or ta is float) and (tb is int or tb is float)):
        _operand_error(op, a, b)


def _add(a: Any, b: Any) -> Any:
    ta = type(a)
    tb = type(b)
    if ta is int and tb is int:
        return check_int(a + b)
    if ta is str and tb is str:
        return a + b
    _num_check("+", a, b)
    return float(a) + float(b)


def _sub(a: Any, b: Any) -> Any:
    if type(a) is int and type(b) is int:
        return check_int(a - b)
    _num_check("-", a, b)
    return float(a) - float(b)


def _mul(a: Any, b: Any) -> Any:
    if type(a) is int and type(b) is int:
        return check_int(a * b)
    _num_check("*", a, b)
    return float(a) * float(b)


def _div(a: Any, b: Any) -> Any:
    _num_check("/", a, b)
    if b == 0:
        raise_zero("division by zero")
    if type(a) is int and type(b) is int:
        # '/' always yields a double; divide exactly then round once (avoids int->float loss).
        return a / b
    return float(a) / float(b)


def _floordiv(a: Any, b: Any) -> Any:
    _num_check("//", a, b)
    if b == 0:
        raise_zero("integer division by zero" if type(b) is int else "division by zero")
    if type(a) is int and type(b) is int:
        return check_int(a // b)
    return float(a) // float(b)


def _mod(a: Any, b: Any) -> Any:
    _num_check("%", a, b)
    if b == 0:
        raise_zero("modulo by zero")
    if type(a) is int and type(b) is int:
        return a % b
    return float(a) % float(b)


def _ordering_check(op: str, a: Any, b: Any) -> None:
    ta = type(a)
    tb = type(b)
    if (ta is int or ta is float) and (tb is int or tb is float):
        return
    if ta is str and tb is str:
        return
    raise_type(f"'{op}' not supported between '{type_name(a)}' and '{type_name(b)}'")


def _lt(a: Any, b: Any) -> bool:
    _ordering_check("<", a, b)
    return a < b


def _le(a: Any, b: Any) -> bool:
    _ordering_check("<=", a, b)
    return a <= b


def _gt(a: Any, b: Any) -> bool:
    _ordering_check(">", a, b)
    return a > b


def _ge(a: Any, b: Any) -> bool:
    _ordering_check(">=", a, b)
    return a >= b


def _eq(a: Any, b: Any) -> bool:
    return values_equal(a, b)


def _ne(a: Any, b: Any) -> bool:
    return not values_equal(a, b)


def _in(a: Any, b: Any) -> bool:
    tb = type(b)
    if tb is list:
        for item in b:
            if values_equal(a, item):
                return True
        return False
    if tb is dict:
        if type(a) is not str:
            raise_type(f"'in' on a map needs a string key, got {type_name(a)}")
        return a in b
    raise_type(f"'in' needs a list or a map on its right, got {type_name(b)}")


_SLOW_BINARY: dict[str, Callable[[Any, Any], Any]] = {
    "+": _add, "-": _sub, "*": _mul, "/": _div, "//": _floordiv, "%": _mod,
    "<": _lt, "<=": _le, ">": _gt, ">=": _ge, "==": _eq, "!=": _ne, "in": _in,
}


def _call_function(fn: Any, name: str, ctx: Any, args: list) -> Any:
    if getattr(fn, "blocking", False):
        raise_type(f"{name} is a blocking call and cannot be used in an expression; use a call step")
    invoke = getattr(fn, "invoke", None)
    if invoke is None:
        raise_type(f"{name} is a {type_name(fn)}, not a function")
    return invoke(ctx, args)


# ---------------------------------------------------------------------------------------------
# Compiler: AST -> (closure, is_constant, constant_value)
# ---------------------------------------------------------------------------------------------


def _const_fn(value: Any) -> Evaluator:
    # A literal container is shared by every evaluation: the closure holds a reference, so a write through
    # any variable holding it copies it first (values.writable).
    return lambda scope, ctx: value


def _resolve_unbound(segments: tuple[str, ...], scope: Any) -> Any:
    """A name that is not a variable: a constant or function (longest dotted prefix), then properties."""
    for cut in range(len(segments), 0, -1):
        name = ".".join(segments[:cut])
        if name in CONSTANTS:
            value = CONSTANTS[name]
        elif name in REGISTRY:
            value = REGISTRY[name]
        else:
            try:
                value = scope.resolve_name(name)
            except KeyError:
                continue
        for seg in segments[cut:]:
            value = _get_property(value, seg)
        return value
    raise_key(f"variable '{segments[0]}' is not defined" if len(segments) == 1 else
              f"variable '{segments[0]}' is not defined (while resolving '{'.'.join(segments)}')")


def _compile_ref(segments: tuple[str, ...]) -> Evaluator:
    root = segments[0]
    rest = segments[1:]
    if not rest:
        def ref(scope: Any, ctx: Any) -> Any:
            try:
                return scope.get_variable(root)
            except KeyError:
                return _resolve_unbound(segments, scope)
        return ref
    if len(rest) == 1:
        key = rest[0]

        def ref1(scope: Any, ctx: Any) -> Any:
            try:
                value = scope.get_variable(root)
            except KeyError:
                return _resolve_unbound(segments, scope)
            if type(value) is dict:
                try:
                    return value[key]
                except KeyError:
                    pass
            return _get_property(value, key)
        return ref1

    def refn(scope: Any, ctx: Any) -> Any:
        try:
            value = scope.get_variable(root)
        except KeyError:
            return _resolve_unbound(segments, scope)
        for key in rest:
            value = _get_property(value, key)
        return value
    return refn


def _compile_binary(op: str, lf: Evaluator, rf: Evaluator) -> Evaluator:
    slow = _SLOW_BINARY.get(op)
    lo, hi = INT_MIN, INT_MAX
    # Hand-specialised closures for the hot operators: int/int stays on a fast path.
    if op == "+":
        def add(s: Any, c: Any) -> Any:
            a = lf(s, c)
            b = rf(s, c)
            if type(a) is int and type(b) is int:
                r = a + b
                if lo <= r <= hi:
                    return r
            return slow(a, b)
        return add
    if op == "-":
        def sub(s: Any, c: Any) -> Any:
            a = lf(s, c)
            b = rf(s, c)
            if type(a) is int and type(b) is int:
                r = a - b
                if lo <= r <= hi:
                    return r
            return slow(a, b)
        return sub
    if op == "*":
        def mul(s: Any, c: Any) -> Any:
            a = lf(s, c)
            b = rf(s, c)
            if type(a) is int and type(b) is int:
                r = a * b
                if lo <= r <= hi:
                    return r
            return slow(a, b)
        return mul
    if op == "%":
        def mod(s: Any, c: Any) -> Any:
            a = lf(s, c)
            b = rf(s, c)
            if type(a) is int and type(b) is int and b:
                return a % b
            return slow(a, b)
        return mod
    if op == "==":
        def eq(s: Any, c: Any) -> bool:
            a = lf(s, c)
            b = rf(s, c)
            ta = type(a)
            if ta is type(b) and (ta is int or ta is str or ta is bool):
                return a == b
            return values_equal(a, b)
        return eq
    if op == "!=":
        def ne(s: Any, c: Any) -> bool:
            a = lf(s, c)
            b = rf(s, c)
            ta = type(a)
            if ta is type(b) and (ta is int or ta is str or ta is bool):
                return a != b
            return not values_equal(a, b)
        return ne
    if op in ("<", "<=", ">", ">="):
        import operator

        fast = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}[op]

        def cmp(s: Any, c: Any) -> bool:
            a = lf(s, c)
            b = rf(s, c)
            ta = type(a)
            if ta is type(b) and (ta is int or ta is float or ta is str):
                return fast(a, b)
            return slow(a, b)
        return cmp
    if op == "and":
        def and_(s: Any, c: Any) -> bool:
            a = lf(s, c)
            if a is True:
                b = rf(s, c)
                if type(b) is bool:
                    return b
                raise_type(f"'and' needs boolean operands, got '{type_name(b)}' on the right")
            if a is False:
                return False
            raise_type(f"'and' needs boolean operands, got '{type_name(a)}' on the left")
        return and_
    if op == "or":
        def or_(s: Any, c: Any) -> bool:
            a = lf(s, c)
            if a is False:
                b = rf(s, c)
                if type(b) is bool:
                    return b
                raise_type(f"'or' needs boolean operands, got '{type_name(b)}' on the right")
            if a is True:
                return True
            raise_type(f"'or' needs boolean operands, got '{type_name(a)}' on the left")
        return or_

    def generic(s: Any, c: Any) -> Any:
        return slow(lf(s, c), rf(s, c))
    return generic


def _compile_default(args: list[tuple]) -> Evaluator:
    if len(args) != 2:
        raise ExpressionSyntaxError(f"default() takes 2 arguments (value, default_value), got {len(args)}", 0)
    vf, _, _ = _compile_node(args[0])
    df, _, _ = _compile_node(args[1])

    def default(s: Any, c: Any) -> Any:
        # The first argument may name an undefined variable or a missing key: that counts as null.
        try:
            value = vf(s, c)
        except WorkflowError as exc:
            tags = exc.value.get("tags") if isinstance(exc.value, dict) else None
            if tags and "KeyError" in tags:
                return df(s, c)
            raise
        if value is None:
            return df(s, c)
        return value
    return default


def _compile_if(args: list[tuple]) -> Evaluator:
    if len(args) != 3:
        raise ExpressionSyntaxError(f"if() takes 3 arguments (condition, if_true, if_false), got {len(args)}", 0)
    cf, _, _ = _compile_node(args[0])
    tf, _, _ = _compile_node(args[1])
    ff, _, _ = _compile_node(args[2])

    def if_(s: Any, c: Any) -> Any:
        cond = cf(s, c)
        if cond is True:
            return tf(s, c)
        if cond is False:
            return ff(s, c)
        raise_type(f"if() condition must be a boolean, got {type_name(cond)}")
    return if_


def _compile_call(name: str, arg_nodes: list[tuple], pos: int) -> Evaluator:
    if name == "default":
        return _compile_default(arg_nodes)
    if name == "if":
        return _compile_if(arg_nodes)
    known = REGISTRY.get(name)
    if name in KNOWN_BLOCKING or (known is not None and known.blocking):
        raise ExpressionSyntaxError(
            f"{name} is a blocking call and cannot be used in an expression; use a call step", pos
        )
    arg_fns = [_compile_node(a)[0] for a in arg_nodes]
    registry_get = REGISTRY.get

    def lookup(scope: Any) -> Any:
        fn = registry_get(name)
        if fn is not None:
            return fn
        try:
            return scope.resolve_name(name)
        except KeyError:
            raise_key(f"function '{name}' not found")

    if len(arg_fns) == 1:
        a0 = arg_fns[0]

        def call1(s: Any, c: Any) -> Any:
            fn = registry_get(name)
            if fn is None or fn.blocking:
                fn = lookup(s)
                return _call_function(fn, name, c, [a0(s, c)])
            return fn.invoke(c, [a0(s, c)])
        return call1

    def call(s: Any, c: Any) -> Any:
        fn = registry_get(name)
        if fn is None or fn.blocking:
            return _call_function(lookup(s), name, c, [f(s, c) for f in arg_fns])
        return fn.invoke(c, [f(s, c) for f in arg_fns])
    return call


def _compile_node(node: tuple) -> tuple[Evaluator, bool, Any]:
    kind = node[0]
    if kind == "const":
        return _const_fn(node[1]), True, node[1]
    if kind == "ref":
        return _compile_ref(node[1]), False, None
    if kind == "bin":
        lf, lc, lv = _compile_node(node[2])
        rf, rc, rv = _compile_node(node[3])
        return _compile_binary(node[1], lf, rf), False, None
    if kind == "not":
        of, _, _ = _compile_node(node[1])

        def not_(s: Any, c: Any) -> bool:
            v = of(s, c)
            if v is True:
                return False
            if v is False:
                return True
            raise_type(f"'not' needs a boolean operand, got '{type_name(v)}'")
        return not_, False, None
    if kind == "neg":
        of, _, _ = _compile_node(node[1])

        def neg(s: Any, c: Any) -> Any:
            v = of(s, c)
            t = type(v)
            if t is int:
                return check_int(-v)
            if t is float:
                return -v
            raise_type(f"unary '-' needs a number, got '{type_name(v)}'")
        return neg, False, None
    if kind == "prop":
        of, _, _ = _compile_node(node[1])
        key = node[2]

        def prop(s: Any, c: Any) -> Any:
            v = of(s, c)
            if type(v) is dict:
                try:
                    return v[key]
                except KeyError:
                    pass
            return _get_property(v, key)
        return prop, False, None
    if kind == "index":
        of, _, _ = _compile_node(node[1])
        xf, _, _ = _compile_node(node[2])

        def index(s: Any, c: Any) -> Any:
            v = of(s, c)
            i = xf(s, c)
            if type(v) is list and type(i) is int and 0 <= i < len(v):
                return v[i]
            return _get_index(v, i)
        return index, False, None
    if kind == "list":
        parts = [_compile_node(item) for item in node[1]]
        if all(p[1] for p in parts):
            value = [p[2] for p in parts]
            return _const_fn(value), True, value
        fns = [p[0] for p in parts]
        return (lambda s, c: [f(s, c) for f in fns]), False, None
    if kind == "map":
        entries = [(_compile_node(k), _compile_node(v)) for k, v in node[1]]
        for (kf, kc, kv), _ in entries:
            if kc and type(kv) is not str:
                raise ExpressionSyntaxError(f"map keys must be strings, got {type_name(kv)}", 0)
        if all(k[1] and v[1] for k, v in entries):
            value = {k[2]: v[2] for k, v in entries}
            return _const_fn(value), True, value
        pairs = [(k[0], v[0]) for k, v in entries]

        def build_map(s: Any, c: Any) -> dict:
            out: dict = {}
            for kf, vf in pairs:
                key = kf(s, c)
                if type(key) is not str:
                    raise_type(f"map keys must be strings, got {type_name(key)}")
                out[key] = vf(s, c)
            return out
        return build_map, False, None
    if kind == "call":
        return _compile_call(node[1], node[2], node[3]), False, None
    raise AssertionError(f"unknown node {kind}")  # parser and compiler are out of step


def _check_length(text: str) -> None:
    if len(text) > MAX_EXPRESSION_LENGTH:
        raise ExpressionSyntaxError(
            f"expression is {len(text)} characters long; the limit is {MAX_EXPRESSION_LENGTH}",
            MAX_EXPRESSION_LENGTH,
        )


def compile_expression(text: str) -> CompiledExpression:
    """Compile the inside of ``${...}``; raises ExpressionSyntaxError(message, position)."""
    if not isinstance(text, str):
        raise ExpressionSyntaxError(f"an expression must be text, got {type(text).__name__}", 0)
    _check_length(text)
    node = _Parser(text).parse_all()
    fn, is_const, value = _compile_node(node)
    return CompiledExpression(fn, text, is_const, value)


def is_expression_text(value: Any) -> bool:
    """True for a YAML string that is a whole ``${...}`` expression."""
    return isinstance(value, str) and value.startswith("${") and value.endswith("}")


def _compile_value_fn(value: Any) -> tuple[Evaluator, bool, Any]:
    t = type(value)
    if t is str:
        if value.startswith("${") and value.endswith("}"):
            compiled = compile_expression(value[2:-1])
            return compiled.evaluate, compiled.is_constant, compiled.constant
        return _const_fn(value), True, value
    if t is list:
        parts = [_compile_value_fn(v) for v in value]
        if all(p[1] for p in parts):
            const = [p[2] for p in parts]
            return _const_fn(const), True, const
        fns = [p[0] for p in parts]
        return (lambda s, c: [f(s, c) for f in fns]), False, None
    if t is dict:
        entries = []
        for key, item in value.items():
            if not isinstance(key, str):
                # YAML may produce non-string keys (e.g. 1: x); the service keys maps by strings.
                key = str(key).lower() if isinstance(key, bool) else str(key)
            entries.append((_compile_value_fn(key), _compile_value_fn(item)))
        if all(k[1] and v[1] for k, v in entries):
            const = {k[2]: v[2] for k, v in entries}
            for k in const:
                if type(k) is not str:
                    raise ExpressionSyntaxError(f"map keys must be strings, got {type_name(k)}", 0)
            return _const_fn(const), True, const
        pairs = [(k[0], v[0]) for k, v in entries]

        def build(s: Any, c: Any) -> dict:
            out: dict = {}
            for kf, vf in pairs:
                key = kf(s, c)
                if type(key) is not str:
                    raise_type(f"map keys must be strings, got {type_name(key)}")
                out[key] = vf(s, c)
            return out
        return build, False, None
    if value is None or t is bool or t is int or t is float:
        return _const_fn(value), True, value
    raise ExpressionSyntaxError(f"unsupported value of Python type {t.__name__} in a definition", 0)


def compile_value(value: Any) -> CompiledExpression:
    """Compile a YAML value: whole-string ``${...}`` become expressions (also as map keys)."""
    fn, is_const, const = _compile_value_fn(value)
    text = value if isinstance(value, str) else repr(value)
    return CompiledExpression(fn, text, is_const, const)


def compile_append(value: Any, name: str) -> CompiledExpression | None:
    """For `name: ${list.concat(name, item)}`, item's compiled expression (the engine may append in place)."""
    if not is_expression_text(value):
        return None
    text = value[2:-1]
    try:
        _check_length(text)
        node = _Parser(text).parse_all()
    except ExpressionSyntaxError:
        return None  # compile_value reports it
    if node[0] == "call" and node[1] == "list.concat" and len(node[2]) == 2 and node[2][0] == ("ref", (name,)):
        fn, is_const, const = _compile_node(node[2][1])
        return CompiledExpression(fn, text, is_const, const)
    return None


# ---------------------------------------------------------------------------------------------
# Assignment targets
# ---------------------------------------------------------------------------------------------


class LValue:
    """An assignment target: a variable, then property (``.k``) and index (``[expr]``) steps."""

    __slots__ = ("text", "root", "path")

    def __init__(self, text: str, root: str, path: list[tuple[bool, Any]]):
        self.text = text
        self.root = root
        # (is_expression, key-or-evaluator) per step; properties are constant strings.
        self.path = path

    def assign(self, scope_vars: dict, value: Any, scope: Any, ctx: Any) -> None:
        """Store ``value`` at this target in ``scope_vars`` (the frame holding the root variable).

        Intermediate map keys that do not exist are created as empty maps; lists are never
        extended by assignment (IndexError); stepping into a scalar is a TypeError.
        Nothing is deep-copied: each container on the path is copied only if it is shared (copy on write).
        """
        if not self.path:
            scope_vars[self.root] = value
            return
        # Index expressions are evaluated before anything is modified.
        keys = [step(scope, ctx) if is_expr else step for is_expr, step in self.path]
        if self.root not in scope_vars:
            raise_key(f"variable '{self.root}' is not defined")
        current = writable(scope_vars, self.root)
        for key in keys[:-1]:
            current = _step_into(current, key)
        last = keys[-1]
        t = type(current)
        if t is dict:
            if type(last) is not str:
                raise_type(f"map key must be a string, got {type_name(last)}")
            current[last] = value
        elif t is list:
            if type(last) is not int:
                raise_type(f"list index must be an integer, got {type_name(last)}")
            if not 0 <= last < len(current):
                raise_index(f"list index {last} out of range (list length {len(current)})")
            current[last] = value
        else:
            raise_type(f"cannot assign into a {type_name(current)}; only maps and lists hold elements")

    def __repr__(self) -> str:
        return f"<lvalue {self.text!r}>"


def _step_into(container: Any, key: Any) -> Any:
    t = type(container)
    if t is dict:
        if type(key) is not str:
            raise_type(f"map key must be a string, got {type_name(key)}")
        if key not in container:
            child: dict = {}
            container[key] = child
            return child
        return writable(container, key)
    if t is list:
        if type(key) is not int:
            raise_type(f"list index must be an integer, got {type_name(key)}")
        if not 0 <= key < len(container):
            raise_index(f"list index {key} out of range (list length {len(container)})")
        return writable(container, key)
    raise_type(f"cannot assign into a {type_name(container)}; only maps and lists hold elements")



def compile_lvalue(text: str) -> LValue:
    """Compile an assignment target such as ``a``, ``a.b.c``, ``a[0]``, ``a["k"]``, ``a.b[i+1].c``."""
    if not isinstance(text, str):
        raise ExpressionSyntaxError(f"an assignment target must be text, got {type(text).__name__}", 0)
    _check_length(text)
    parser = _Parser(text)
    kind, root, pos = parser.next()
    if kind != T_NAME:
        raise ExpressionSyntaxError(f"an assignment target must start with a variable name, found {parser.describe((kind, root, pos))}", pos)
    path: list[tuple[bool, Any]] = []
    while True:
        kind, v, pos = parser.peek()
        if kind == T_EOF:
            break
        if kind == T_OP and v == ".":
            parser.pos += 1
            tok = parser.next()
            if tok[0] not in (T_NAME, T_KW, T_CONST):
                raise ExpressionSyntaxError(f"expected a key name after '.', found {parser.describe(tok)}", tok[2])
            path.append((False, parser._word_at(tok)))
        elif kind == T_OP and v == "[":
            parser.pos += 1
            node = parser.parse_expression()
            parser.expect("]")
            fn, is_const, const = _compile_node(node)
            path.append((False, const) if is_const else (True, fn))
        else:
            raise ExpressionSyntaxError(f"unexpected {parser.describe((kind, v, pos))} in an assignment target", pos)
    return LValue(text, root, path)


__all__ = [
    "MAX_EXPRESSION_LENGTH", "Scope", "Compiled", "CompiledExpression", "ExpressionSyntaxError",
    "LValue", "compile_expression", "compile_value", "compile_lvalue", "compile_append", "is_expression_text",
]
