"""Code every layer of the raw-data pipeline imports.

Import-light modules (``layers``, ``environments``, ``naming``, ``errors``) never import
Pulumi, so ``tasks.py`` stays fast; the Pulumi-facing modules (``settings``, ``stack``,
``references``, ``harness``) do.
"""
