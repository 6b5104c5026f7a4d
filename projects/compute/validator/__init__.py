"""Validator Lambda: validate each object S3 reports and record one metadata item per version.

Entry point: ``validator.handler.handler(event, context)``.

The compute layer uploads this folder inline as the whole Lambda package, so every module here
needs only the standard library and boto3 (what the Lambda Python runtime ships). This file
imports nothing: the compute layer's Pulumi program imports ``validator.settings`` for the
default limits, and must not need boto3 to do so.

Modules, each with one job:

- ``settings``: limits, their defaults, and reading them from the environment (standard library
  only).
- ``result``: the statuses and what validating one object found.
- ``textstream``: the body's bytes as text, a bounded chunk at a time (BOM, invalid UTF-8,
  CSV line pieces).
- ``jsonsyntax``: a streaming JSON syntax checker that agrees with ``json.loads``.
- ``formats``: the CSV, JSON and JSON Lines validators, reading the body as a stream.
- ``events``: the event shapes the handler accepts (S3 notifications, EventBridge).
- ``record``: the metadata item and its write-once put.
- ``metrics``: the CloudWatch Embedded Metric Format line per recorded object.
- ``aws``: the boto3 clients, created lazily.
- ``handler``: the Lambda entry point tying them together.

docs/validator.md documents the behaviour: what valid means, the limits, statuses and metrics.
"""
