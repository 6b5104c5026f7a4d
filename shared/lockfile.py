"""requirements.lock and pyproject.toml, read: what the lock pins, whether it agrees with
pyproject.toml, and whether the installed packages are the locked ones.

Used by the lock tests and by ``invoke doctor``. Import-light: standard library and
``packaging`` (a dependency of invoke's environment here: pip, pytest and pulumi need it),
imported when called.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from shared.layers import REPO_ROOT

LOCK_FILE = REPO_ROOT / "requirements.lock"
PYPROJECT = REPO_ROOT / "pyproject.toml"


@dataclass(frozen=True)
class Pin:
    version: str
    marker: Any  # packaging.markers.Marker | None

    def applies(self) -> bool:
        return self.marker is None or self.marker.evaluate()


def pyproject(path: Path = PYPROJECT) -> dict[str, Any]:
    return tomllib.loads(path.read_text())


def direct_requirements(document: dict[str, Any]) -> list[Any]:
    """The requirements pyproject.toml lists: dependencies and the dev extra."""
    from packaging.requirements import Requirement

    project = document["project"]
    return [
        Requirement(text)
        for text in [*project["dependencies"], *project["optional-dependencies"]["dev"]]
    ]


def locked(text: str | None = None) -> dict[str, list[Pin]]:
    """Canonical name -> its pins in the lock (a name may be pinned per platform)."""
    from packaging.markers import Marker
    from packaging.utils import canonicalize_name

    pins: dict[str, list[Pin]] = {}
    for line in (LOCK_FILE.read_text() if text is None else text).splitlines():
        if not line or line.startswith((" ", "#")):
            continue
        requirement, _, marker = line.partition(";")
        name, version = requirement.strip().split("==")
        pins.setdefault(canonicalize_name(name), []).append(
            Pin(version.strip(), Marker(marker.strip()) if marker.strip() else None)
        )
    return pins


def pinned_here(name: str, lock_text: str | None = None) -> str | None:
    """The version the lock installs on this machine, if any."""
    from packaging.utils import canonicalize_name

    for pin in locked(lock_text).get(canonicalize_name(name), []):
        if pin.applies():
            return pin.version
    return None


def disagreements(document: dict[str, Any], lock_text: str) -> list[str]:
    """Each direct dependency missing from the lock, or pinned outside its range."""
    problems = []
    for requirement in direct_requirements(document):
        version = pinned_here(requirement.name, lock_text)
        if version is None:
            problems.append(f"{requirement.name} is not locked")
        elif not requirement.specifier.contains(version, prereleases=True):
            problems.append(f"{requirement.name}=={version} is outside {requirement}")
    return problems


def closure(document: dict[str, Any]) -> set[str]:
    """Every distribution the direct requirements pull in on this machine, read from the
    installed packages' metadata."""
    from packaging.markers import default_environment
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    environment = default_environment()
    own = canonicalize_name(document["project"]["name"])
    seen: dict[str, set[str]] = {}  # name -> the extras already followed ("" = none)
    pending = list(direct_requirements(document))
    while pending:
        requirement = pending.pop()
        name = canonicalize_name(requirement.name)
        wanted = {"", *requirement.extras} - seen.get(name, set())
        if not wanted or name == own:
            continue
        seen.setdefault(name, set()).update(wanted)
        try:
            requires = metadata.requires(requirement.name) or []
        except metadata.PackageNotFoundError:
            continue
        for text in requires:
            dependency = Requirement(text)
            if dependency.marker is None or any(
                dependency.marker.evaluate({**environment, "extra": extra}) for extra in wanted
            ):
                pending.append(dependency)
    return set(seen)


def installed_mismatches(document: dict[str, Any] | None = None) -> list[str]:
    """Packages installed at another version than the lock's, or missing."""
    document = document or pyproject()
    problems = []
    for name in sorted(closure(document)):
        wanted = pinned_here(name)
        try:
            found = metadata.version(name)
        except metadata.PackageNotFoundError:
            problems.append(f"{name} is not installed (the lock pins {wanted})")
            continue
        if found != wanted:
            problems.append(f"{name} {found} is installed, the lock pins {wanted}")
    return problems
