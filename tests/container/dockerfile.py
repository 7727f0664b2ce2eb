"""What the Dockerfile does to the image, read from the file itself (no Docker needed).

Only the parts that decide what gets installed are understood: ``FROM``, ``ARG`` defaults, ``WORKDIR``,
``COPY`` from the build context and ``RUN`` commands, split on ``&&``, of which ``pip install ...`` are kept.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
_VARIABLE = re.compile(r"\$\{(\w+)\}|\$(\w+)")


@dataclass(slots=True)
class Dockerfile:
    base: str = ""
    args: dict[str, str] = field(default_factory=dict)
    workdir: str = "/"
    copies: list[tuple[list[str], str]] = field(default_factory=list)  # (sources, destination)
    pip_installs: list[list[str]] = field(default_factory=list)  # the arguments after `pip install`

    @classmethod
    def read(cls, path: Path = DOCKERFILE) -> Dockerfile:
        return cls.parse(path.read_text(encoding="utf-8"))

    @classmethod
    def parse(cls, text: str) -> Dockerfile:
        result = cls()
        for instruction in _instructions(text):
            keyword, _, rest = instruction.partition(" ")
            keyword, rest = keyword.upper(), result._substitute(rest.strip())
            if keyword == "FROM":
                result.base = rest.split()[0]
            elif keyword == "ARG":
                name, _, default = rest.partition("=")
                result.args[name.strip()] = default.strip().strip('"')
            elif keyword == "WORKDIR":
                result.workdir = rest
            elif keyword == "COPY":
                parts = [p for p in shlex.split(rest) if not p.startswith("--")]
                result.copies.append((parts[:-1], parts[-1]))
            elif keyword == "RUN":
                for command in rest.split("&&"):
                    words = shlex.split(command)
                    if words[:2] == ["pip", "install"]:
                        result.pip_installs.append(words[2:])
                    elif words[:4] == ["python", "-m", "pip", "install"]:
                        result.pip_installs.append(words[4:])
        return result

    def _substitute(self, text: str) -> str:
        return _VARIABLE.sub(lambda m: self.args.get(m.group(1) or m.group(2), m.group(0)), text)

    def requirement_files(self) -> list[str]:
        """Paths (inside WORKDIR) given to ``pip install -r``."""
        files: list[str] = []
        for words in self.pip_installs:
            files += [words[i + 1] for i, word in enumerate(words[:-1]) if word in ("-r", "--requirement")]
        return files


def _instructions(text: str) -> list[str]:
    """Instructions with line continuations joined and comments dropped."""
    joined: list[str] = []
    current = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        joined.append(current + line)
        current = ""
    if current:
        joined.append(current)
    return joined
