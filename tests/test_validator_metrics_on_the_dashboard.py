"""The dashboard (observability layer) searches exactly the metrics the validator (compute
layer) writes: its EMF namespace, dimensions and metric names. Two teams' code, one contract."""

from __future__ import annotations

import importlib.util
import json
import re
from types import ModuleType

from shared.layers import load_graph
from shared.testing import Rendered


def validator_metrics() -> ModuleType:
    path = load_graph().get("compute").directory / "validator" / "metrics.py"
    spec = importlib.util.spec_from_file_location("validator_metrics_contract", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_dashboard_searches_the_metrics_the_validator_writes(rendered: Rendered) -> None:
    metrics = validator_metrics()
    for environment, stacks in rendered.items():
        body = json.loads(
            stacks["observability"].one("aws:cloudwatch/dashboard:Dashboard")["dashboardBody"]
        )
        searches = [
            metric[0]["expression"]
            for widget in body["widgets"]
            for metric in widget["properties"].get("metrics", [])
            if isinstance(metric[0], dict)
        ]
        schema = "{" + ",".join([metrics.NAMESPACE, *metrics.DIMENSIONS]) + "}"
        searched = {
            re.search(r'MetricName="(\w+)"', search)[1]
            for search in searches
            if f'{schema} Environment="{environment}"' in search
        }
        assert searched == {name for name, _ in metrics.METRICS}, environment
