"""A Dockerfile as a list of instructions: what the image checks read (pure)."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Instruction:
    keyword: str
    """Upper case: FROM, RUN, COPY, ..."""
    arguments: str
    """Continuation lines joined, comments removed."""

    def words(self) -> list[str]:
        return shlex.split(self.arguments)


def parse(path: Path) -> list[Instruction]:
    """Instructions in order; the parser directive and comments are dropped."""
    instructions: list[Instruction] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue  # a comment inside a continued instruction
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        text = pending + line
        pending = ""
        keyword, _, arguments = text.partition(" ")
        instructions.append(Instruction(keyword.upper(), arguments.strip()))
    return instructions


def pinned_image(reference: str) -> bool:
    """``name:tag`` (not ``latest``) or ``name@sha256:...``."""
    if "@sha256:" in reference:
        return True
    name, _, tag = reference.rpartition(":")
    return bool(name) and "/" not in tag and tag not in ("", "latest")


def pip_requirements(run_arguments: str) -> list[list[str]]:
    """The requirement specifiers of each ``pip install`` in a RUN instruction."""
    found = []
    for command in re.split(r"&&|;", run_arguments):
        words = shlex.split(command)
        if "pip" in words and "install" in words:
            args = words[words.index("install") + 1 :]
            specs, skip = [], False
            for word in args:
                if skip:
                    skip = False
                elif word in ("--constraint", "-c", "--find-links", "-f", "-r", "--requirement"):
                    skip = True
                elif not word.startswith("-"):
                    specs.append(word)
            found.append(specs)
    return found
