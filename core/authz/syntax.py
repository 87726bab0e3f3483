"""Polar clause text as a tree, each node with its span in the text: what ``policy check`` reads a
rule's shape from (Oso parses policies in Rust and does not hand the tree to Python), and what a
rewrite is spliced into.

Precedence is Polar's: ``or`` below ``and`` below ``not`` below the comparisons (``=``, ``!=``,
``<``, ``in``, ``matches``, ...) below lookups and calls. Only what a rule body can hold is
understood; text it cannot follow raises :class:`SyntaxProblem`, and ``policy check`` refuses such
a read clause rather than guess its shape (:mod:`.shapes`)."""

from __future__ import annotations

import dataclasses
import re

_TOKEN = re.compile(r'\s*(?:(?P<str>"(?:[^"\\]|\\.)*")|(?P<num>\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)'
                    r'|(?P<op>==|!=|<=|>=|[=<>()\[\]{},.:;+\-*/|])|(?P<id>[A-Za-z_][A-Za-z0-9_]*))')
COMPARISONS = ("=", "==", "!=", "<", "<=", ">", ">=", "in", "matches")
ORDERINGS = ("<", "<=", ">", ">=")


class SyntaxProblem(Exception):
    """Clause text this reader does not follow."""


@dataclasses.dataclass(eq=False)
class Value:
    """An operand: ``refs`` holds every lookup chain in it (``("doc", "content", "a")``, call
    arguments included); ``chain`` is set when the whole value is one plain lookup."""

    start: int
    end: int
    refs: list
    chain: tuple | None = None
    called: bool = False
    group: "Node | None" = None  # a parenthesised body: ``(a or b)``


@dataclasses.dataclass(eq=False)
class Node:
    """``or``/``and`` (``parts``), ``not`` and ``group`` (one part), ``cmp`` (``op`` between
    ``left`` and ``right``) or ``goal`` (a call, ``true``, a lookup standing alone: ``left``)."""

    kind: str
    start: int
    end: int
    parts: list = dataclasses.field(default_factory=list)
    op: str = ""
    left: Value | None = None
    right: Value | None = None

    def walk(self):
        yield self
        for part in self.parts:
            yield from part.walk()

    def values(self):
        return [v for v in (self.left, self.right) if v is not None]


@dataclasses.dataclass(eq=False)
class ParsedClause:
    text: str
    rule: str
    params: list  # [(name or None, literal text or None, type name or None)] per head parameter
    body: Node | None


def tokens(text: str) -> list[tuple[str, str, int, int]]:
    out, i = [], 0
    while i < len(text):
        m = _TOKEN.match(text, i)
        if not m or m.end() == i:
            if text[i:].strip() == "":
                break
            raise SyntaxProblem(f"unexpected {text[i:i + 10]!r}")
        kind = m.lastgroup
        out.append((kind, m.group(kind), m.start(kind), m.end()))
        i = m.end()
    return out


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.toks = tokens(text)
        self.i = 0

    def peek(self, ahead: int = 0) -> str | None:
        j = self.i + ahead
        return self.toks[j][1] if j < len(self.toks) else None

    def take(self, expected: str | None = None) -> tuple:
        if self.i >= len(self.toks):
            raise SyntaxProblem("unexpected end of clause")
        tok = self.toks[self.i]
        if expected is not None and tok[1] != expected:
            raise SyntaxProblem(f"expected {expected!r}, found {tok[1]!r}")
        self.i += 1
        return tok

    def start(self) -> int:
        return self.toks[self.i][2] if self.i < len(self.toks) else len(self.text)

    def end(self) -> int:
        return self.toks[self.i - 1][3]

    # -- clause -----------------------------------------------------------------------

    def clause(self) -> ParsedClause:
        rule = self.take()[1]
        self.take("(")
        params = []
        while self.peek() != ")":
            start = self.start()
            value = self.value()
            name = value.chain[0] if value.chain and len(value.chain) == 1 else None
            kind = None
            if self.peek() == ":":
                self.take()
                kind = self.text[self.start():self.value().end]
            params.append((name, None if name else self.text[start:value.end], kind))
            if self.peek() == ",":
                self.take()
        self.take(")")
        body = None
        if self.peek() == "if":
            self.take()
            body = self.disjunction()
        if self.peek() == ";":
            self.take()
        if self.i != len(self.toks):
            raise SyntaxProblem(f"unexpected {self.peek()!r}")
        return ParsedClause(self.text, rule, params, body)

    # -- body -------------------------------------------------------------------------

    def _joined(self, word: str, below) -> Node:
        start = self.start()
        parts = [below()]
        while self.peek() == word:
            self.take()
            parts.append(below())
        return parts[0] if len(parts) == 1 else Node(word, start, self.end(), parts)

    def disjunction(self) -> Node:
        return self._joined("or", self.conjunction)

    def conjunction(self) -> Node:
        return self._joined("and", self.negation)

    def negation(self) -> Node:
        start = self.start()
        if self.peek() == "not":
            self.take()
            child = self.negation()
            return Node("not", start, self.end(), [child])
        return self.comparison()

    def comparison(self) -> Node:
        start = self.start()
        left = self.value()
        if self.peek() in COMPARISONS:
            op = self.take()[1]
            right = self.value()
            return Node("cmp", start, self.end(), op=op, left=left, right=right)
        if left.group is not None:
            return Node("group", left.start, left.end, [left.group])
        return Node("goal", start, self.end(), left=left)

    # -- values -----------------------------------------------------------------------

    def value(self) -> Value:
        start = self.start()
        value = self.unary()
        while self.peek() in ("+", "-", "*", "/"):
            self.take()
            other = self.unary()
            value = Value(start, self.end(), value.refs + other.refs, called=value.called or other.called)
        return value

    def unary(self) -> Value:
        start = self.start()
        if self.peek() == "-":
            self.take()
            inner = self.unary()
            return Value(start, self.end(), inner.refs, called=inner.called)
        return self.postfix()

    def postfix(self) -> Value:
        start = self.start()
        kind, word, _, _ = self.take()
        refs: list = []
        called = False
        chain: tuple | None = None
        if word == "(":
            group = self.disjunction()
            self.take(")")
            if group.kind == "goal" and group.left.chain:  # `(doc.content.a)`: the value itself
                return Value(start, self.end(), group.left.refs, chain=group.left.chain)
            inner = [v for n in group.walk() for v in n.values()]
            return Value(start, self.end(), [r for v in inner for r in v.refs],
                         called=any(v.called for v in inner), group=group)
        if word in ("[", "{"):
            refs, called = self.items("]" if word == "[" else "}")
            return Value(start, self.end(), refs, called=called)
        if kind == "id" and word not in ("true", "false"):
            chain = (word,)
            if self.peek() == "{":  # a pattern: Content{...}
                self.take()
                refs, called = self.items("}")
                return Value(start, self.end(), refs, called=called)
        while True:
            if self.peek() == "(":
                called = True
                refs += self.arguments()
                if chain is not None:
                    refs.append(chain)
                chain = None
            elif self.peek() == ".":
                self.take()
                name = self.take()[1]
                if chain is not None:
                    chain = chain + (name,)
                elif not called:
                    raise SyntaxProblem("a lookup on a value")
            else:
                break
        if chain is not None:
            refs.append(chain)
        return Value(start, self.end(), refs, chain=chain, called=called)

    def items(self, closing: str) -> tuple[list, bool]:
        """The items of a list or of a pattern's fields, up to ``closing``: their refs, and
        whether one calls anything."""
        refs, called = [], False
        while self.peek() != closing:
            item = self.value()
            refs += item.refs
            called = called or item.called
            if self.peek() in (",", ":", "|"):
                self.take()
        self.take(closing)
        return refs, called

    def arguments(self) -> list:
        self.take("(")
        refs = []
        while self.peek() != ")":
            refs += self.value().refs
            if self.peek() == ",":
                self.take()
        self.take(")")
        return refs


def parse(text: str) -> ParsedClause:
    """The clause ``text`` (one clause, as :attr:`Clause.written` spells it) as a tree."""
    return _Parser(text).clause()


def unwrap(node: Node) -> Node:
    """The node inside any parentheses."""
    while node.kind == "group":
        node = node.parts[0]
    return node
