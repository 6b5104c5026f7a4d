"""The repository's policy pack: one set of rules, two runners.

- ``policies.rules``: every rule, on engine-shaped resources (camelCase inputs), with its
  enforcement level and why; nothing here knows who runs it.
- ``policies.crossguard``: the rules as Pulumi CrossGuard policies, for
  ``pulumi up --policy-pack policies`` (``__main__.py`` builds the ``PolicyPack``).
- ``shared.policy``: the same rules on the stacks the offline harness renders, for
  ``invoke check`` and the tests.

See docs/policies.md.
"""
