"""requirements.lock pins every dependency, and agrees with pyproject.toml.

The set-up (README, .ci/run, CI's setup action) installs with ``pip install -c
requirements.lock -e '.[dev]'``: the lock decides every version. These tests fail when a
dependency is added to or removed from pyproject.toml, or its range changed, without
`invoke lock` being run: the lock would then install something pyproject.toml does not ask
for, or miss something it does.
"""

from __future__ import annotations

import re
import tomllib
from importlib import metadata

import pytest
from packaging.markers import Marker, default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

import tasks
from shared.layers import REPO_ROOT

LOCK = REPO_ROOT / "requirements.lock"
PYPROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())


def direct_requirements(pyproject: dict) -> list[Requirement]:
    project = pyproject["project"]
    return [
        Requirement(text)
        for text in [*project["dependencies"], *project["optional-dependencies"]["dev"]]
    ]


DIRECT = direct_requirements(PYPROJECT)


def locked(text: str | None = None) -> dict[str, list[tuple[str, Marker | None]]]:
    """name -> [(version, marker)] as the lock pins them (a name may be pinned per platform)."""
    pins: dict[str, list[tuple[str, Marker | None]]] = {}
    for line in (LOCK.read_text() if text is None else text).splitlines():
        if not line or line.startswith((" ", "#")):
            continue
        requirement, _, marker = line.partition(";")
        name, version = requirement.strip().split("==")
        pins.setdefault(canonicalize_name(name), []).append(
            (version.strip(), Marker(marker.strip()) if marker.strip() else None)
        )
    return pins


def pinned_here(name: str, lock_text: str | None = None) -> str | None:
    """The version the lock installs on this machine, if any."""
    for version, marker in locked(lock_text).get(canonicalize_name(name), []):
        if marker is None or marker.evaluate():
            return version
    return None


def disagreements(pyproject: dict, lock_text: str) -> list[str]:
    """Each direct dependency missing from the lock, or pinned outside its range."""
    problems = []
    for requirement in direct_requirements(pyproject):
        version = pinned_here(requirement.name, lock_text)
        if version is None:
            problems.append(f"{requirement.name} is not locked")
        elif not requirement.specifier.contains(version, prereleases=True):
            problems.append(f"{requirement.name}=={version} is outside {requirement}")
    return problems


def test_the_lock_pins_exact_versions_and_says_how_it_was_made() -> None:
    text = LOCK.read_text()
    assert tasks.LOCK_COMMAND in text.splitlines()[1], "regenerate it with `invoke lock`"
    pins = locked()
    assert len(pins) > len(DIRECT)
    for name, entries in pins.items():
        for version, _ in entries:
            assert re.fullmatch(r"[0-9][0-9A-Za-z.+!-]*", version), (name, version)


@pytest.mark.parametrize("requirement", DIRECT, ids=str)
def test_every_dependency_of_pyproject_is_locked_within_its_range(
    requirement: Requirement,
) -> None:
    version = pinned_here(requirement.name)
    assert version is not None, f"{requirement.name} is not in requirements.lock: run `invoke lock`"
    assert requirement.specifier.contains(version, prereleases=True), (
        f"requirements.lock pins {requirement.name}=={version}, outside {requirement}: "
        "run `invoke lock`"
    )


def test_a_pyproject_edit_without_relocking_is_caught() -> None:
    assert disagreements(PYPROJECT, LOCK.read_text()) == []
    added = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    added["project"]["dependencies"].append("tomli-w>=1")
    assert disagreements(added, LOCK.read_text()) == ["tomli-w is not locked"]
    narrowed = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    narrowed["project"]["dependencies"] = [
        "pulumi>=99" if text.startswith("pulumi>") else text
        for text in narrowed["project"]["dependencies"]
    ]
    [problem] = disagreements(narrowed, LOCK.read_text())
    assert problem.startswith("pulumi==") and problem.endswith("is outside pulumi>=99")


def closure() -> set[str]:
    """Every distribution the direct requirements pull in on this machine, read from the
    installed packages' metadata (the environment was installed from the lock)."""
    environment = default_environment()
    seen: dict[str, set[str]] = {}  # name -> the extras already followed ("" = none)
    pending = [requirement for requirement in DIRECT]
    while pending:
        requirement = pending.pop()
        name = canonicalize_name(requirement.name)
        wanted = {"", *requirement.extras} - seen.get(name, set())
        if not wanted or name == canonicalize_name(PYPROJECT["project"]["name"]):
            continue
        seen.setdefault(name, set()).update(wanted)
        for text in metadata.requires(requirement.name) or []:
            dependency = Requirement(text)
            if dependency.marker is None or any(
                dependency.marker.evaluate({**environment, "extra": extra}) for extra in wanted
            ):
                pending.append(dependency)
    return set(seen)


def test_the_lock_holds_nothing_that_pyproject_no_longer_needs() -> None:
    needed = closure()
    stale = sorted(
        name
        for name, entries in locked().items()
        if any(marker is None or marker.evaluate() for _, marker in entries) and name not in needed
    )
    assert stale == [], f"requirements.lock pins {stale}, which nothing needs: run `invoke lock`"
    missing = sorted(name for name in needed if pinned_here(name) is None)
    assert missing == [], f"requirements.lock lacks {missing}: run `invoke lock`"


def test_the_installed_versions_are_the_locked_ones() -> None:
    for name in closure():
        assert metadata.version(name) == pinned_here(name), (
            f"{name} {metadata.version(name)} is installed, the lock says {pinned_here(name)}: "
            "reinstall with `pip install -c requirements.lock -e '.[dev]'`"
        )


def test_the_set_up_installs_with_the_lock() -> None:
    for path in (REPO_ROOT / ".ci" / "run", REPO_ROOT / ".github/actions/setup/action.yml"):
        text = path.read_text()
        assert "-c requirements.lock -e " in text, path
    readme = (REPO_ROOT / "README.md").read_text()
    assert "pip install -c requirements.lock -e '.[dev]'" in readme
