"""The Docker image installs the locked set on the Makefile's torch, and `make run` installs no dev tools.

That this set really generates is checked by `make check-image` (tests/container/check_install.py), which
installs it into a fresh venv; these tests check, fast, that the files say what that check relies on.
"""

from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from .dockerfile import ROOT, Dockerfile

DEV_TOOLS = {"pytest", "pytest-asyncio", "pytest-timeout", "ruff", "mypy", "playwright", "psutil"}


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _lock(name: str) -> dict[str, Version]:
    pins: dict[str, Version] = {}
    for line in (ROOT / "requirements" / name).read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            package, _, version = line.partition("==")
            pins[_canonical(package)] = Version(version)
    return pins


def _makefile_torch() -> str:
    match = re.search(r"^TORCH_VERSION \?= (\S+)$", (ROOT / "Makefile").read_text(), re.MULTILINE)
    assert match, "the Makefile pins TORCH_VERSION"
    return match.group(1)


def _project() -> dict[str, list[str]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return {"runtime": project["dependencies"], **project["optional-dependencies"]}


def test_the_parser_reads_args_continuations_copies_and_pip_lines() -> None:
    parsed = Dockerfile.parse(
        "FROM python:3.11-slim AS base\n# a comment\nARG V=1.0\nWORKDIR /app\n"
        "COPY --chown=1 a.txt b/ ./\n"
        'RUN pip install "x==${V}" \\\n    && useradd app && python -m pip install -r a.txt\n'
    )
    assert parsed.base == "python:3.11-slim"
    assert parsed.copies == [(["a.txt", "b/"], "./")]
    assert parsed.pip_installs == [["x==1.0"], ["-r", "a.txt"]]
    assert parsed.requirement_files() == ["a.txt"]


def test_the_image_installs_the_makefiles_torch_then_the_runtime_lock_then_the_project() -> None:
    dockerfile = Dockerfile.read()
    assert not dockerfile.base.startswith("pytorch/"), "a base image's own torch would not be the pinned one"
    installs = dockerfile.pip_installs
    assert installs[0] == [f"torch=={_makefile_torch()}"]
    assert dockerfile.requirement_files() == ["requirements/runtime.lock"]
    assert ["--no-deps", "."] in installs, "the project goes in without resolving anything else"
    copied = {source for sources, _ in dockerfile.copies for source in sources}
    assert {"requirements/runtime.lock", "pyproject.toml", "bot", "engine"} <= copied


def test_the_pinned_torch_is_one_the_locked_transformers_runs_on() -> None:
    torch = Version(_makefile_torch())
    transformers = _lock("runtime.lock")["transformers"]
    # transformers 5 disables itself below torch 2.6 ("PyTorch was not found" → no pipeline imports).
    if transformers.major >= 5:
        assert torch >= Version("2.6")
    torch_requirement = next(Requirement(r) for r in _project()["runtime"] if Requirement(r).name == "torch")
    assert torch in torch_requirement.specifier
    assert Version("2.6") <= min(Version(s.version) for s in torch_requirement.specifier if ">" in s.operator)


@pytest.mark.parametrize(("lock", "group"), [("runtime.lock", "runtime"), ("dev.lock", "dev")])
def test_each_lock_pins_every_declared_dependency_within_its_range(lock: str, group: str) -> None:
    pins = _lock("runtime.lock") | _lock(lock)
    for line in _project()[group]:
        requirement = Requirement(line)
        name = _canonical(requirement.name)
        if name == "torch":
            assert name not in pins, "torch is installed from its own pin, never from a lock"
            continue
        assert name in pins, f"{lock} misses {name}"
        assert pins[name] in requirement.specifier, f"{lock} pins {name} {pins[name]}, outside {requirement}"


def test_the_runtime_lock_holds_no_dev_tools_and_the_dev_lock_no_runtime_package() -> None:
    runtime, dev = _lock("runtime.lock"), _lock("dev.lock")
    assert not DEV_TOOLS & runtime.keys()
    assert dev.keys() >= DEV_TOOLS
    assert not runtime.keys() & dev.keys()


def _make_dry_run(target: str, tmp_path: Path) -> str:
    venv = tmp_path / "venv"  # no stamp there: make prints every install step it would run
    result = subprocess.run(
        ["make", "-n", target, f"VENV={venv}"], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return result.stdout


def test_make_run_installs_the_runtime_lock_only(tmp_path: Path) -> None:
    steps = _make_dry_run("run", tmp_path)
    assert f"torch=={_makefile_torch()}" in steps
    assert "-r requirements/runtime.lock" in steps and "--no-deps -e ." in steps
    assert "dev.lock" not in steps and "[dev]" not in steps


@pytest.mark.parametrize("target", ["test", "lint"])
def test_make_test_and_lint_add_the_dev_lock(tmp_path: Path, target: str) -> None:
    steps = _make_dry_run(target, tmp_path)
    assert "-r requirements/runtime.lock" in steps and "-r requirements/dev.lock" in steps
