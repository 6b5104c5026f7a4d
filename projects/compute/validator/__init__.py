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
- ``formats``: the CSV, JSON and JSON Lines validators, reading the body as a stream.
- ``events``: the S3 event shapes the handler accepts.
- ``record``: the metadata item and its write-once put.
- ``aws``: the boto3 clients, created lazily.
- ``handler``: the Lambda entry point tying them together.
"""
