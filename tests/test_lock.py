"""requirements.lock pins every dependency, and agrees with pyproject.toml.

The set-up (README, .ci/run, CI's setup action) installs with ``pip install -c
requirements.lock -e '.[dev]'``: the lock decides every version. These tests fail when a
dependency is added to or removed from pyproject.toml, or its range changed, without
`invoke lock` being run: the lock would then install something pyproject.toml does not ask
for, or miss something it does.
"""

from __future__ import annotations

import re

import pytest

import tasks
from shared.layers import REPO_ROOT
from shared.lockfile import (
    LOCK_FILE,
    closure,
    direct_requirements,
    disagreements,
    installed_mismatches,
    locked,
    pinned_here,
    pyproject,
)

PYPROJECT = pyproject()
DIRECT = direct_requirements(PYPROJECT)


def test_the_lock_pins_exact_versions_and_says_how_it_was_made() -> None:
    text = LOCK_FILE.read_text()
    assert tasks.LOCK_COMMAND in text.splitlines()[1], "regenerate it with `invoke lock`"
    pins = locked()
    assert len(pins) > len(DIRECT)
    for name, entries in pins.items():
        for pin in entries:
            assert re.fullmatch(r"[0-9][0-9A-Za-z.+!-]*", pin.version), (name, pin)


@pytest.mark.parametrize("requirement", DIRECT, ids=str)
def test_every_dependency_of_pyproject_is_locked_within_its_range(requirement: object) -> None:
    version = pinned_here(requirement.name)  # type: ignore[attr-defined]
    assert version is not None, f"{requirement} is not in requirements.lock: run `invoke lock`"
    assert requirement.specifier.contains(version, prereleases=True), (  # type: ignore[attr-defined]
        f"requirements.lock pins {version}, outside {requirement}: run `invoke lock`"
    )


def test_a_pyproject_edit_without_relocking_is_caught() -> None:
    lock_text = LOCK_FILE.read_text()
    assert disagreements(PYPROJECT, lock_text) == []
    added = pyproject()
    added["project"]["dependencies"].append("tomli-w>=1")
    assert disagreements(added, lock_text) == ["tomli-w is not locked"]
    narrowed = pyproject()
    narrowed["project"]["dependencies"] = [
        "pulumi>=99" if text.startswith("pulumi>") else text
        for text in narrowed["project"]["dependencies"]
    ]
    [problem] = disagreements(narrowed, lock_text)
    assert problem.startswith("pulumi==") and problem.endswith("is outside pulumi>=99")


def test_the_lock_holds_nothing_that_pyproject_no_longer_needs() -> None:
    needed = closure(PYPROJECT)
    stale = sorted(
        name
        for name, pins in locked().items()
        if any(pin.applies() for pin in pins) and name not in needed
    )
    assert stale == [], f"requirements.lock pins {stale}, which nothing needs: run `invoke lock`"
    missing = sorted(name for name in needed if pinned_here(name) is None)
    assert missing == [], f"requirements.lock lacks {missing}: run `invoke lock`"


def test_the_installed_versions_are_the_locked_ones() -> None:
    assert installed_mismatches(PYPROJECT) == [], (
        "reinstall with `.venv/bin/pip install -c requirements.lock -e '.[dev]'`"
    )


def test_the_set_up_installs_with_the_lock() -> None:
    for path in (REPO_ROOT / ".ci" / "run", REPO_ROOT / ".github/actions/setup/action.yml"):
        text = path.read_text()
        assert "-c requirements.lock -e " in text, path
    readme = (REPO_ROOT / "README.md").read_text()
    assert "pip install -c requirements.lock -e '.[dev]'" in readme
