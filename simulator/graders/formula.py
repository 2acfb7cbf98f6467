"""The `calculate_output` formula of a multi grader: a safe parser and evaluator (never `eval`).

Grammar (usual precedence; `^` is power and right-associative; unary minus binds looser than `^`):

    expr   := term (("+" | "-") term)*
    term   := unary (("*" | "/") unary)*
    unary  := ("-" | "+") unary | power
    power  := atom ("^" unary)?
    atom   := NUMBER | NAME | FUNC "(" expr ("," expr)* ")" | "(" expr ")"

Functions: min, max (one or more arguments), abs, floor, ceil, exp, sqrt, log (natural; one argument).
Names are the grader names of the multi grader. Parsing never executes anything.
"""

from __future__ import annotations

import math
import re
from typing import Any, Callable, Mapping, Union

__all__ = ["FormulaError", "parse", "evaluate", "variables"]

Node = Union[float, str, tuple]
MAX_FORMULA = 4096
MAX_TOKENS = 400
MAX_DEPTH = 64

_TOKEN = re.compile(r"\s*(?:(\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?|([A-Za-z_][A-Za-z0-9_]*)|(\S))")
_UNARY: dict[str, Callable[[float], float]] = {
    "abs": abs,
    "floor": lambda x: float(math.floor(x)),
    "ceil": lambda x: float(math.ceil(x)),
    "exp": math.exp,
    "sqrt": math.sqrt,
    "log": math.log,
}
_VARIADIC: dict[str, Callable[..., float]] = {"min": lambda *a: min(a), "max": lambda *a: max(a)}
FUNCTIONS = frozenset(_UNARY) | frozenset(_VARIADIC)


class FormulaError(ValueError):
    """A formula that cannot be parsed or evaluated."""


def _tokenize(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:  # only trailing whitespace can fail to match
            break
        number, name, symbol = match.group(1), match.group(2), match.group(3)
        if number is not None:
            out.append(("num", match.group(0).strip()))
        elif name is not None:
            out.append(("name", name))
        elif symbol in "+-*/^(),":
            out.append(("op", symbol))
        else:
            raise FormulaError(f"unexpected character {symbol!r} at position {match.start(3)}")
        pos = match.end()
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokenize(text)
        self.i = 0
        self.depth = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self, value: str | None = None) -> tuple[str, str]:
        tok = self.peek()
        if tok is None:
            raise FormulaError("unexpected end of formula" + (f": expected {value!r}" if value else ""))
        if value is not None and tok[1] != value:
            raise FormulaError(f"expected {value!r}, got {tok[1]!r}")
        self.i += 1
        return tok

    def nested(self, fn: Callable[[], Node]) -> Node:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise FormulaError("formula is nested too deeply")
        try:
            return fn()
        finally:
            self.depth -= 1

    def expr(self) -> Node:
        node = self.term()
        while (tok := self.peek()) and tok[1] in ("+", "-"):
            self.take()
            node = (tok[1], node, self.term())
        return node

    def term(self) -> Node:
        node = self.unary()
        while (tok := self.peek()) and tok[1] in ("*", "/"):
            self.take()
            node = (tok[1], node, self.unary())
        return node

    def unary(self) -> Node:
        tok = self.peek()
        if tok and tok[0] == "op" and tok[1] in ("-", "+"):
            self.take()
            operand = self.nested(self.unary)
            return ("neg", operand) if tok[1] == "-" else operand
        return self.power()

    def power(self) -> Node:
        base = self.atom()
        if (tok := self.peek()) and tok[1] == "^":
            self.take()
            return ("^", base, self.nested(self.unary))
        return base

    def atom(self) -> Node:
        kind, value = self.take()
        if kind == "num":
            return float(value)
        if kind == "name":
            if (tok := self.peek()) and tok[1] == "(":
                if value not in FUNCTIONS:
                    raise FormulaError(f"unknown function {value!r}")
                self.take("(")
                args = [self.nested(self.expr)]
                while (tok := self.peek()) and tok[1] == ",":
                    self.take()
                    args.append(self.nested(self.expr))
                self.take(")")
                if value in _UNARY and len(args) != 1:
                    raise FormulaError(f"{value}() takes exactly one argument")
                return ("call", value, tuple(args))
            if value in FUNCTIONS:
                raise FormulaError(f"function {value!r} needs arguments")
            return value
        if value == "(":
            node = self.nested(self.expr)
            self.take(")")
            return node
        raise FormulaError(f"unexpected {value!r}")


def parse(text: str) -> Node:
    """The syntax tree of a formula (FormulaError if it is not valid)."""
    if not isinstance(text, str) or not text.strip():
        raise FormulaError("formula is empty")
    if len(text) > MAX_FORMULA:
        raise FormulaError(f"formula is longer than {MAX_FORMULA} characters")
    parser = _Parser(text)
    if len(parser.tokens) > MAX_TOKENS:
        raise FormulaError(f"formula has more than {MAX_TOKENS} tokens")
    node = parser.expr()
    if parser.peek() is not None:
        raise FormulaError(f"unexpected {parser.peek()[1]!r} after the end of the expression")  # type: ignore[index]
    return node


def variables(node: Node) -> set[str]:
    """The variable names a tree uses."""
    if isinstance(node, str):
        return {node}
    if isinstance(node, tuple):
        if node[0] == "call":
            return set().union(*(variables(a) for a in node[2]))
        return set().union(*(variables(a) for a in node[1:]))
    return set()


def evaluate(node: Node, values: Mapping[str, float]) -> float:
    """The value of a tree (FormulaError for unknown names, division by zero or a math domain error)."""
    try:
        result = _eval(node, values)
    except ZeroDivisionError:
        raise FormulaError("division by zero") from None
    except (ValueError, OverflowError) as exc:
        raise FormulaError(f"math error: {exc}") from None
    except RecursionError:
        raise FormulaError("formula is nested too deeply") from None
    if isinstance(result, complex) or math.isnan(result) or math.isinf(result):
        raise FormulaError("the formula's value is not a finite number")
    return float(result)


def _eval(node: Node, values: Mapping[str, float]) -> Any:
    if isinstance(node, float):
        return node
    if isinstance(node, str):
        if node not in values:
            raise FormulaError(f"unknown variable {node!r}")
        return float(values[node])
    op = node[0]
    if op == "neg":
        return -_eval(node[1], values)
    if op == "call":
        args = [_eval(a, values) for a in node[2]]
        fn = _UNARY.get(node[1]) or _VARIADIC[node[1]]
        return fn(*args)
    a, b = _eval(node[1], values), _eval(node[2], values)
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    if op == "/":
        return a / b
    return math.pow(a, b)
