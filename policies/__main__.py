"""The policy pack Pulumi runs: `pulumi up --policy-pack policies` (see docs/policies.md).

Every rule of policies/rules.py, each at its own enforcement level. Constructing the
PolicyPack starts its gRPC server and blocks: tests never run this file unpatched.
"""

from pulumi_policy import EnforcementLevel, PolicyPack

from policies.crossguard import PACK_NAME, Repository, pack_policies
from policies.rules import RULES

PolicyPack(
    name=PACK_NAME,
    policies=pack_policies(RULES, Repository.load()),
    enforcement_level=EnforcementLevel.ADVISORY,  # every rule sets its own; this is the default
)
