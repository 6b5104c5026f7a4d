"""THE allowlist of environment knobs: the only inputs allowed to differ between environments.

``invoke check`` renders every layer in every environment, takes the environment name out
of names, ARNs and export keys, and then requires everything else to be identical. Each
entry below names one input (layer, resource logical name, input path) that may differ,
and says why. ``invoke check`` prints one row per entry: the difference matrix.

Paths use the wire (camelCase) input names, ``.`` into objects, ``[Sid]`` into IAM policy
statements, ``[index]`` into other lists; an entry also allows everything beneath its
path. ``(protect)`` is the resource's ``protect`` option; ``<stack>`` / ``exports.<key>``
is a stack export, with ``{env}`` standing for the environment name.

Import-light: standard library only (``invoke --list`` may read it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Knob:
    layer: str
    resource: str
    input: str
    why: str

    def covers(self, layer: str, resource: str, path: str) -> bool:
        """Whether a difference at ``path`` of ``resource`` is this knob (or beneath it)."""
        if (layer, resource) != (self.layer, self.resource):
            return False
        return path == self.input or path.startswith((f"{self.input}.", f"{self.input}["))


KNOBS: tuple[Knob, ...] = (
    # storage: what a lost or over-provisioned environment costs
    Knob(
        "storage",
        "rawdata-bucket",
        "forceDestroy",
        "dev is disposable: `invoke destroy` may empty its bucket; elsewhere data must be "
        "deleted on purpose",
    ),
    Knob(
        "storage",
        "rawdata-bucket",
        "(protect)",
        "prod's data cannot be recreated: Pulumi refuses to delete it; dev and staging are "
        "rebuilt freely",
    ),
    Knob(
        "storage",
        "rawdata-bucket-lifecycle",
        "rules[0].noncurrentVersionExpiration.noncurrentDays",
        "how long overwritten object versions are kept: longer in prod for recovery, short "
        "where storage is only cost",
    ),
    Knob(
        "storage",
        "metadata-table",
        "billingMode",
        "prod's traffic is bursty and must not throttle (on-demand); dev and staging run on "
        "small, cheap provisioned capacity",
    ),
    Knob(
        "storage",
        "metadata-table",
        "readCapacity",
        "set only with PROVISIONED billing, sized per environment (absent when on-demand)",
    ),
    Knob(
        "storage",
        "metadata-table",
        "writeCapacity",
        "set only with PROVISIONED billing, sized per environment (absent when on-demand)",
    ),
    Knob(
        "storage",
        "metadata-table",
        "pointInTimeRecovery.enabled",
        "continuous backups cost money and matter only where the data does (prod)",
    ),
    Knob(
        "storage",
        "metadata-table",
        "deletionProtectionEnabled",
        "AWS itself refuses to delete prod's table; dev and staging tables are torn down",
    ),
    Knob(
        "storage",
        "metadata-table",
        "(protect)",
        "prod's metadata cannot be recreated: Pulumi refuses to delete it",
    ),
    Knob(
        "storage",
        "validator-dlq",
        "(protect)",
        "prod's dead-letter queue holds failed events awaiting replay: Pulumi refuses to delete it",
    ),
    # iam: tracing needs a permission, granted only where tracing is on
    Knob(
        "iam",
        "validator-policy",
        "policy.Statement[WriteTraces]",
        "the X-Ray write statement exists only where pipeline:tracing is true (least "
        "privilege: no permission without its use)",
    ),
    Knob(
        "iam",
        "<stack>",
        "exports.{env}_tracing",
        "tells compute whether the role may write traces; it is pipeline:tracing, which "
        "differs per environment",
    ),
    # compute: size, tracing and log retention
    Knob(
        "compute",
        "validator-function",
        "memorySize",
        "memory (and with it CPU) is sized to each environment's load and budget",
    ),
    Knob(
        "compute",
        "validator-function",
        "tracingConfig.mode",
        "X-Ray tracing (Active) costs per trace; it is on where releases are verified "
        "(staging, prod), PassThrough in dev",
    ),
    Knob(
        "compute",
        "validator-log-group",
        "retentionInDays",
        "prod keeps logs longer for incident review; short retention elsewhere limits cost",
    ),
)


def knob_covering(
    layer: str, resource: str, path: str, knobs: Sequence[Knob] = KNOBS
) -> Knob | None:
    """The knob that allows ``path`` of ``resource`` in ``layer`` to differ, if any."""
    for knob in knobs:
        if knob.covers(layer, resource, path):
            return knob
    return None
