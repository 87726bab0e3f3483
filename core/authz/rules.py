"""Where each rule lives: policy clauses indexed by file, line and origin (core, plugin, admin).

``policy explain`` and ``policy check`` ask "which clause decided?". Polar does not say, so
every ``permitted``/``denied``/``role_permission`` clause is loaded a second time under a name
of its own (``_aladdin_clause_7``, from memory, never a file) and probed alone with the same
arguments. Those names are internal: what users read names the clause by file, line and text."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

PROBED_RULES = ("permitted", "denied", "role_permission", "allow")
_HEAD = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*\(")


@dataclasses.dataclass(frozen=True)
class Clause:
    rule: str
    file: Path
    line: int
    origin: str  # "core", "plugin <name>" or "admin"
    text: str
    probe: str  # the name of its probe copy

    @property
    def where(self) -> str:
        return f"{self.file.name}:{self.line} ({self.origin})"

    @property
    def written(self) -> str:
        """The clause as its file spells it, on one line (comments dropped, spaces collapsed)."""
        lines = [re.sub(r'#[^"\n]*$', "", line) for line in self.text.splitlines()]
        return " ".join(" ".join(lines).split())


def split_clauses(text: str) -> list[tuple[int, str]]:
    """Top-level ``...;`` clauses of a Polar source with the line each starts on.

    Comments and strings are skipped; ``resource``/``actor`` blocks (``{ ... }``) are whole units."""
    out: list[tuple[int, str]] = []
    i, n, line = 0, len(text), 1
    start, start_line, depth = None, 1, 0
    while i < n:
        ch = text[i]
        if ch == "\n":
            line += 1
        elif ch == "#":
            while i < n and text[i] != "\n":
                i += 1
            continue
        elif ch == '"':
            if start is None:
                start, start_line = i, line
            i += 1
            while i < n and text[i] != '"':
                if text[i] == "\\":
                    i += 1
                elif text[i] == "\n":
                    line += 1
                i += 1
        elif not ch.isspace():
            if start is None:
                start, start_line = i, line
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
                if depth == 0 and text[start:i].lstrip().startswith(("resource", "actor")):
                    out.append((start_line, text[start:i + 1]))
                    start = None
            elif ch == ";" and depth == 0:
                out.append((start_line, text[start:i + 1]))
                start = None
        i += 1
    return out


def index_clauses(origins: dict[Path, str]) -> list[Clause]:
    clauses = []
    for path, origin in origins.items():
        for line, text in split_clauses(Path(path).read_text()):
            m = _HEAD.match(text)
            if not m or m.group(1) not in PROBED_RULES:
                continue
            probe = f"_aladdin_clause_{len(clauses)}"
            clauses.append(Clause(m.group(1), Path(path), line, origin, text, probe))
    return clauses


def probe_source(clauses: list[Clause]) -> str:
    """Every clause again under its probe name: Polar source loaded after the real files."""
    body = []
    for c in clauses:
        m = _HEAD.match(c.text)
        body.append(c.text[:m.start(1)] + c.probe + c.text[m.end(1):])
    return "\n".join(body) + "\n"
