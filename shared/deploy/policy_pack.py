"""The CrossGuard policy pack that runs where the deploy runs: ``deploy``, ``preview`` and
``drift`` pass ``--policy-pack <repo>/policies`` to pulumi (documented for ``pulumi up`` and
``pulumi preview``: "Run one or more policy packs as part of this update"). ``destroy`` takes
no pack: pulumi's ``destroy`` has no such flag.

The pack itself (``policies/PulumiPolicy.yaml``, ``policies/__main__.py``) is its own folder;
a run refuses to start without it unless ``--skip-policy-pack`` is given, which is said loudly
and recorded in the run report.

Import-light: standard library and ``shared`` only.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shared.errors import PipelineError
from shared.layers import REPO_ROOT
from shared.text import BOLD, YELLOW, Painter, use_colour

# Read when a run starts (tests point it at a temporary pack).
POLICY_PACK_DIR = REPO_ROOT / "policies"
MANIFEST = "PulumiPolicy.yaml"


class PolicyPackMissing(PipelineError):
    """The pack's manifest is not there and --skip-policy-pack was not given."""


@dataclass(frozen=True)
class PolicyPackUse:
    """What a run does about the pack: the folder it passes to pulumi, or skipped."""

    path: Path | None
    skipped: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {"path": str(self.path) if self.path else None, "skipped": self.skipped}


def _shown(path: Path) -> str:
    return str(path.relative_to(REPO_ROOT)) if path.is_relative_to(REPO_ROOT) else str(path)


def policy_pack_for(action: str, *, skip: bool) -> PolicyPackUse:
    """The pack a run passes to pulumi; refuses (exit 2) when its manifest is missing."""
    folder = POLICY_PACK_DIR
    if skip:
        return PolicyPackUse(None, skipped=True)
    manifest = folder / MANIFEST
    if not manifest.is_file():
        raise PolicyPackMissing(
            f"policy pack missing: {_shown(manifest)} does not exist; {action} runs the "
            f"CrossGuard pack in {_shown(folder)}/ (pulumi --policy-pack) and does not run "
            f"without it. Add the pack, or pass --skip-policy-pack to {action} without it "
            "(a warning is printed and the report records it)"
        )
    return PolicyPackUse(folder)


def warn_skipped(action: str, environment: str) -> None:
    """One loud line on stderr: this run checks nothing against the policies."""
    paint = Painter(use_colour(sys.stderr))
    line = (
        f"WARNING: policy pack skipped: --skip-policy-pack was given, so this {action} of "
        f"{environment} runs without the CrossGuard rules in {_shown(POLICY_PACK_DIR)}/ "
        "(recorded in the report)"
    )
    print(paint(line, BOLD, YELLOW), file=sys.stderr, flush=True)
