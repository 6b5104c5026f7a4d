"""Prove the environments are the same architecture, offline.

``invoke render`` / ``check`` / ``new-env`` (``shared.consistency_tasks``) are built from:

- ``normalise``: take the environment out of a rendered stack (names, ARNs, export keys);
- ``architecture``: compare a layer across environments; the difference matrix of knobs;
- ``stack_files``: environments present, settings the layers' stack files must share;
- ``check``: all of it over every layer x environment, plus ``shared.policy``'s rules;
- ``snapshots``: the rendered plans committed under ``tests/snapshots/``;
- ``new_env``: replicate an environment's stack files under a new name;
- ``report``: findings, aligned tables, colour only on a terminal.

The allowed differences are declared once, in ``shared.knobs``. Nothing here imports Pulumi
at import time; the functions that render import the harness when called.
"""
