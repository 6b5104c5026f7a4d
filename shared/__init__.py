"""Code every layer of the raw-data pipeline imports.

Import-light modules (``layers``, ``environments``, ``naming``, ``errors``, ``deploy``,
``consistency_tasks``) never import Pulumi at load time, so ``tasks.py`` stays fast; the
Pulumi-facing modules (``settings``, ``stack``, ``harness``, ``policy``) do.
"""
