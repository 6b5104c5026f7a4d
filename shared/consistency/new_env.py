"""``invoke new-env``: replicate an environment's stack files under a new name.

Each layer's ``Pulumi.<source>.yaml`` is copied to ``Pulumi.<name>.yaml`` with the source
environment's name replaced where it stands as a whole token in a value (``dev-alerts`` ->
``qa-alerts``), never inside another word (``device``) and never in a key. The source stack's
secrets-provider keys (``encryptionsalt``...: ``SECRETS_PROVIDER_KEYS``) are left out: they
belong to the source's stack, and Pulumi writes fresh ones when the new stack is created. The
result is parsed back and compared with the source, so a substitution that changes a value's
YAML type (a new name like ``true``) or touches a key is refused instead of written. Existing
files are never overwritten: every target is checked before anything is written, and each
is created with exclusive mode.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from shared.consistency.normalise import environment_token
from shared.environments import (
    SECRETS_PROVIDER_KEYS,
    environments,
    stack_file,
    validate_environment_name,
)
from shared.errors import StackEnvironmentError
from shared.layers import PROJECTS_DIR, deploy_order

# A mapping key and its colon (``  aws:region:``), the rest of the line being the value. Keys
# may contain colons (``aws:region``); the key ends at the first colon followed by a blank.
_KEY = re.compile(r"^(\s*(?:-\s+)?[^\s#'\"-][^#]*?:)(?=\s|$)")
# A top-level secrets-provider key; its value may continue on the indented lines after it.
_SECRETS_KEY = re.compile(rf"^({'|'.join(SECRETS_PROVIDER_KEYS)})\s*:(?=\s|$)")


@dataclass
class NewEnvironment:
    """What ``new_environment`` did."""

    written: list[Path] = field(default_factory=list)
    # Per source stack file, the secrets-provider keys that were not copied.
    secrets_left_out: dict[Path, list[str]] = field(default_factory=dict)


def without_secrets_provider(text: str) -> tuple[str, list[str]]:
    """``text`` (a stack file) without its top-level secrets-provider keys; the keys removed."""
    kept: list[str] = []
    removed: list[str] = []
    dropping = False
    for line in text.splitlines(keepends=True):
        if dropping and line[:1] in (" ", "\t"):
            continue  # the dropped key's value, continued
        key = _SECRETS_KEY.match(line)
        dropping = key is not None
        if key:
            removed.append(key.group(1))
        else:
            kept.append(line)
    return "".join(kept), removed


def rename_in_values(text: str, source: str, name: str) -> str:
    """``text`` (a stack file) with the ``source`` environment renamed in values only."""
    token = environment_token(source)
    renamed = []
    for line in text.splitlines(keepends=True):
        key = _KEY.match(line)
        head, tail = (line[: key.end()], line[key.end() :]) if key else ("", line)
        renamed.append(head + token.sub(name, tail))
    return "".join(renamed)


def _renamed_values(value: Any, source: str, name: str) -> Any:
    """What ``rename_in_values`` must produce once parsed: strings renamed, nothing else."""
    if isinstance(value, str):
        return environment_token(source).sub(name, value)
    if isinstance(value, dict):
        return {key: _renamed_values(item, source, name) for key, item in value.items()}
    if isinstance(value, list):
        return [_renamed_values(item, source, name) for item in value]
    return value


def planned_files(
    name: str, source: str, projects_dir: Path = PROJECTS_DIR
) -> list[tuple[Path, Path]]:
    """(source file, new file) per layer, after every refusal that needs no writing."""
    validate_environment_name(name)
    known = environments(projects_dir)
    if source not in known:
        raise StackEnvironmentError(
            f"unknown source environment {source!r}; environments with stack files: "
            f"{', '.join(known) or 'none'}"
        )
    pairs = [
        (stack_file(layer, source, projects_dir), stack_file(layer, name, projects_dir))
        for layer in deploy_order()
    ]
    missing = [str(source_file) for source_file, _ in pairs if not source_file.is_file()]
    if missing:
        raise StackEnvironmentError(
            f"source environment {source!r} is incomplete, missing: {', '.join(missing)}"
        )
    existing = [str(target) for _, target in pairs if target.exists()]
    if existing:
        raise StackEnvironmentError(
            f"environment {name!r} already has stack files; refusing to overwrite "
            f"{', '.join(existing)} (choose another name, or delete them first)"
        )
    return pairs


def refuse_ordinary_words(name: str, source: str, projects_dir: Path = PROJECTS_DIR) -> None:
    """Refuse a name the source environment's stacks already use as a word (``east`` in
    ``us-east-1``, ``validator``, ``table``): it could not be told apart from the
    environment when names are compared, so ``check`` could not prove anything about it."""
    from shared.consistency.check import mentions_of, render_all  # renders: imports pulumi
    from shared.consistency.normalise import normalise_stack

    rendered, failures = render_all([source], projects_dir)
    if failures:
        raise StackEnvironmentError(
            f"source environment {source!r} does not render: "
            + "; ".join(failure.message for failure in failures)
        )
    for stack in rendered[source].values():
        places = mentions_of(normalise_stack(stack), name)
        if places:
            resource, _, text = places[0]
            raise StackEnvironmentError(
                f"environment name {name!r} is already a word in {source}'s stacks "
                f"({stack.layer} {resource}: {text}); it could not be told apart from the "
                "environment in names: choose another name"
            )


def new_environment(name: str, source: str, projects_dir: Path = PROJECTS_DIR) -> NewEnvironment:
    """Write ``Pulumi.<name>.yaml`` in every layer from ``source``'s, without its secrets keys."""
    pairs = planned_files(name, source, projects_dir)
    refuse_ordinary_words(name, source, projects_dir)
    result = NewEnvironment()
    contents = []
    for source_file, target in pairs:
        original = source_file.read_text()
        kept, removed = without_secrets_provider(original)
        renamed = rename_in_values(kept, source, name)
        document = yaml.safe_load(original)
        if isinstance(document, dict):
            document = {k: v for k, v in document.items() if k not in SECRETS_PROVIDER_KEYS}
        if yaml.safe_load(renamed) != _renamed_values(document, source, name):
            raise StackEnvironmentError(
                f"renaming {source!r} to {name!r} in {source_file} would change more than "
                f"the environment name (YAML reads {name!r} as another type, or a key "
                "contains it); choose another name"
            )
        if removed:
            result.secrets_left_out[source_file] = removed
        contents.append((target, renamed))
    for target, text in contents:
        with target.open("x") as file:  # "x": fail rather than overwrite, even in a race
            file.write(text)
        result.written.append(target)
    return result
