"""Render a layer's Pulumi program offline: real stack files, Pulumi's own mocks, no cloud.

``render_stack`` runs ``projects/<layer>/__main__.py`` exactly as the Pulumi CLI would (the
project folder is the program), but against ``pulumi.runtime.set_mocks``: the mock computes
the attributes AWS would (ARNs, URLs, ids) so that values flow between resources as in a
real deployment, and records every registration with its inputs, parent, dependencies and
``protect`` flag. ``render_environment`` chains the layers in deploy order, feeding each
layer's exports to the StackReferences of the layers after it (and, when asked, recording a
layer that fails and skipping only the layers that read its exports).

The unit tests, ``invoke render`` and ``invoke check`` all use this one harness.
"""

from __future__ import annotations

import hashlib
import os
import runpy
import sys
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pulumi
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import resource as sdk_resource
from pulumi.runtime import rpc
from pulumi.runtime.proto import source_pb2
from pulumi.runtime.settings import ROOT, SETTINGS, get_root_resource
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _ensure_event_loop, _sync_await

from shared.environments import read_stack_config
from shared.errors import PipelineError
from shared.layers import Layer, deploy_order, get_layer
from shared.stack import SELF_MANAGED_BACKEND_ORG

MOCK_ACCOUNT_ID = "123456789012"
MOCK_PARTITION = "aws"
STACK_REFERENCE_TYPE = "pulumi:pulumi:StackReference"


# --------------------------------------------------------------------------- mocks
def _computed_state(
    type_token: str, name: str, inputs: dict[str, Any], region: str
) -> tuple[str, dict[str, Any]]:
    """The id and the output attributes AWS would give a new resource of this type."""
    account = MOCK_ACCOUNT_ID
    arn = f"arn:{MOCK_PARTITION}"
    state = dict(inputs)
    if type_token == "aws:s3/bucket:Bucket":
        bucket = inputs.get("bucket", name)
        state.update(
            bucket=bucket, arn=f"{arn}:s3:::{bucket}", bucketDomainName=f"{bucket}.s3.amazonaws.com"
        )
        return bucket, state
    physical = inputs.get("name", name)
    if type_token == "aws:dynamodb/table:Table":
        state.update(name=physical, arn=f"{arn}:dynamodb:{region}:{account}:table/{physical}")
        return physical, state
    if type_token == "aws:sqs/queue:Queue":
        url = f"https://sqs.{region}.amazonaws.com/{account}/{physical}"
        state.update(name=physical, arn=f"{arn}:sqs:{region}:{account}:{physical}", url=url)
        return url, state
    if type_token == "aws:iam/role:Role":
        state.update(
            name=physical,
            arn=f"{arn}:iam::{account}:role/{physical}",
            uniqueId=f"AROA{physical.upper()}",
        )
        return physical, state
    if type_token == "aws:iam/policy:Policy":
        policy_arn = f"{arn}:iam::{account}:policy/{physical}"
        state.update(name=physical, arn=policy_arn)
        return policy_arn, state
    if type_token == "aws:cloudwatch/logGroup:LogGroup":
        state.update(name=physical, arn=f"{arn}:logs:{region}:{account}:log-group:{physical}")
        return physical, state
    if type_token == "aws:lambda/function:Function":
        function_arn = f"{arn}:lambda:{region}:{account}:function:{physical}"
        state.update(
            name=physical,
            arn=function_arn,
            qualifiedArn=f"{function_arn}:$LATEST",
            invokeArn=f"{arn}:apigateway:{region}:lambda:path/2015-03-31/functions/{function_arn}/invocations",
            version="$LATEST",
        )
        return physical, state
    if type_token == "aws:cloudwatch/metricAlarm:MetricAlarm":
        state.update(name=physical, arn=f"{arn}:cloudwatch:{region}:{account}:alarm:{physical}")
        return physical, state
    return f"{name}-id", state


class PipelineMocks(pulumi.runtime.Mocks):
    """Pulumi mocks that answer like AWS, and StackReferences from upstream exports."""

    def __init__(self, region: str, upstream_exports: Mapping[str, Mapping[str, Any]]) -> None:
        self.region = region
        self.upstream_exports = upstream_exports

    def new_resource(
        self, args: pulumi.runtime.MockResourceArgs
    ) -> tuple[str | None, dict[str, Any]]:
        if args.typ == STACK_REFERENCE_TYPE:
            stack_name = args.inputs["name"]
            outputs = dict(self.upstream_exports.get(stack_name, {}))
            return stack_name, {"name": stack_name, "outputs": outputs, "secretOutputNames": []}
        return _computed_state(args.typ, args.name, args.inputs, self.region)

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict[str, Any]:
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {
                "accountId": MOCK_ACCOUNT_ID,
                "arn": f"arn:{MOCK_PARTITION}:iam::{MOCK_ACCOUNT_ID}:user/offline-render",
                "userId": "AIDAOFFLINERENDER",
                "id": MOCK_ACCOUNT_ID,
            }
        if args.token == "aws:index/getPartition:getPartition":
            return {"partition": MOCK_PARTITION, "dnsSuffix": "amazonaws.com", "id": MOCK_PARTITION}
        if args.token == "aws:index/getRegion:getRegion":
            return {"region": self.region, "name": self.region, "id": self.region}
        raise NotImplementedError(
            f"the offline renderer has no mock for the data source {args.token}; add one to "
            "shared/harness.py PipelineMocks.call"
        )


# --------------------------------------------------------------------------- recording
@dataclass(frozen=True)
class RenderedResource:
    urn: str
    type: str
    name: str
    custom: bool
    inputs: dict[str, Any]
    parent: str | None
    dependencies: tuple[str, ...]
    protect: bool

    def __getitem__(self, key: str) -> Any:
        return self.inputs[key]


def _plain(value: Any) -> Any:
    """Inputs as JSON-able data; assets become their size and digest, not their text."""
    if isinstance(value, pulumi.StringAsset):
        text = value.text
        return {
            "stringAsset": {
                "bytes": len(text.encode()),
                "sha256": hashlib.sha256(text.encode()).hexdigest(),
            }
        }
    if isinstance(value, pulumi.AssetArchive):
        return {
            "assetArchive": {name: _plain(asset) for name, asset in sorted(value.assets.items())}
        }
    if isinstance(value, pulumi.Asset | pulumi.Archive):
        return {type(value).__name__: repr(value)}
    if isinstance(value, float) and value.is_integer():
        return int(value)  # the wire protocol carries every number as a double
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """The mock monitor, also keeping what the engine would see: parent, dependencies, protect."""

    def __init__(self, mocks: pulumi.runtime.Mocks) -> None:
        super().__init__(mocks)
        self.registrations: list[RenderedResource] = []

    def RegisterResource(self, request: Any) -> Any:
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            self._record(
                response.urn, request, request.object, bool(request.custom), bool(request.protect)
            )
        return response

    def ReadResource(self, request: Any) -> Any:
        """StackReferences are reads: record which stack is read, not its outputs."""
        response = super().ReadResource(request)
        self._record(response.urn, request, request.properties, custom=True, protect=False)
        return response

    def _record(self, urn: str, request: Any, properties: Any, custom: bool, protect: bool) -> None:
        inputs = rpc.deserialize_properties(properties)
        if request.type == STACK_REFERENCE_TYPE:
            inputs = {"name": inputs["name"]}
        self.registrations.append(
            RenderedResource(
                urn=urn,
                type=request.type,
                name=request.name,
                custom=custom,
                inputs=_plain(inputs),
                parent=request.parent or None,
                dependencies=tuple(sorted(set(request.dependencies))),
                protect=protect,
            )
        )


@dataclass
class RenderedStack:
    layer: str
    environment: str
    project: str
    resources: list[RenderedResource]
    exports: dict[str, Any]
    config: dict[str, str] = field(default_factory=dict)

    def __iter__(self) -> Iterator[RenderedResource]:
        return iter(self.resources)

    def of_type(self, type_token: str) -> list[RenderedResource]:
        return [resource for resource in self.resources if resource.type == type_token]

    def one(self, type_token: str) -> RenderedResource:
        found = self.of_type(type_token)
        if len(found) != 1:
            raise LookupError(
                f"{self.layer}/{self.environment}: expected one {type_token}, found {len(found)}"
            )
        return found[0]

    def by_urn(self, urn: str) -> RenderedResource:
        for resource in self.resources:
            if resource.urn == urn:
                return resource
        raise LookupError(f"{self.layer}/{self.environment}: no resource with urn {urn}")


# --------------------------------------------------------------------------- rendering
def _provided_modules(directory: Path) -> set[str]:
    """The top-level module names a project folder provides (``__main__.py`` is the program)."""
    return {
        path.name.removesuffix(".py")
        for path in directory.iterdir()
        if (path.suffix == ".py" and path.name != "__main__.py") or (path / "__init__.py").is_file()
    }


def _loaded_names(provided: set[str]) -> list[str]:
    return [
        name
        for name in list(sys.modules)
        if name.partition(".")[0] in provided and name != "__main__"
    ]


def _forget_layer_modules(directory: Path) -> None:
    """Drop the modules a project folder provides, wherever they were first imported from.

    Each render then runs that folder's code: a second environment re-runs the program, and
    a test's edited copy of ``projects/`` (``projects_dir=``) is not shadowed by the module of
    the same name imported earlier from the real folder.
    """
    for name in _loaded_names(_provided_modules(directory)):
        del sys.modules[name]


# Per project folder, the modules its program imported from that folder, with the file's
# (mtime, size) then. The next render of the same folder reinstalls them instead of importing
# them again (compiling, rebuilding pydantic models): the program (``__main__.py``) still runs
# every time, and an edited file is imported afresh.
_imported_from_folder: dict[Path, dict[str, tuple[ModuleType, tuple[int, int]]]] = {}


def _file_stamp(file: str) -> tuple[int, int]:
    status = os.stat(file)
    return (status.st_mtime_ns, status.st_size)


def _install_layer_modules(directory: Path) -> None:
    _forget_layer_modules(directory)
    for name, (module, stamp) in _imported_from_folder.get(directory, {}).items():
        file = module.__file__ or ""
        if os.path.exists(file) and _file_stamp(file) == stamp:
            sys.modules[name] = module


def _remember_layer_modules(directory: Path) -> None:
    folder = f"{directory}{os.sep}"
    remembered = {}
    for name in _loaded_names(_provided_modules(directory)):
        module = sys.modules[name]
        file = getattr(module, "__file__", None) or ""
        if file.startswith(folder):
            remembered[name] = (module, _file_stamp(file))
    _imported_from_folder[directory] = remembered


class _InlineExecutor(ThreadPoolExecutor):
    """Runs each call at once, in the caller's thread. The SDK sends every monitor call to a
    thread; the mock monitor answers synchronously, so the thread hop is pure latency."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as error:  # delivered to the awaiting coroutine, as a thread would
            future.set_exception(error)
        return future


def _no_stack_trace() -> Any:
    return source_pb2.StackTrace()


@contextmanager
def _offline_registrations() -> Iterator[None]:
    """Skip what only a real engine uses, for the duration of one render: the source position
    of every resource (a stack walk that reads source files, per registration) and the
    thread per monitor call. What is registered, and how, is unchanged."""
    # Both are private to the SDK: if a Pulumi release renames them, renders stay correct and
    # only lose the speed-up.
    loop = _ensure_event_loop()  # the loop _sync_await runs the program on
    previous_executor = getattr(loop, "_default_executor", None)
    previous_stack_trace = getattr(sdk_resource, "_get_stack_trace", None)
    loop.set_default_executor(_InlineExecutor(max_workers=1))
    if previous_stack_trace is not None:
        sdk_resource._get_stack_trace = _no_stack_trace
    try:
        yield
    finally:
        if previous_stack_trace is not None:
            sdk_resource._get_stack_trace = previous_stack_trace
        loop._default_executor = previous_executor  # type: ignore[attr-defined]


def render_stack(
    layer_name: str,
    environment: str,
    *,
    upstream_exports: Mapping[str, Mapping[str, Any]] | None = None,
    config: Mapping[str, str] | None = None,
    projects_dir: Path | None = None,
) -> RenderedStack:
    """Run one layer's program for one environment under mocks and return what it declared.

    ``upstream_exports`` maps fully qualified stack names (``org/project/stack``) to their
    outputs; ``config`` replaces the stack file (tests use it to feed bad settings).
    """
    layer = get_layer(layer_name)
    directory = (projects_dir / layer.name) if projects_dir else layer.directory
    stack_config = (
        dict(config) if config is not None else read_stack_config(layer, environment, projects_dir)
    )
    mocks = PipelineMocks(stack_config.get("aws:region", "us-east-1"), upstream_exports or {})
    monitor = RecordingMonitor(mocks)

    ROOT.set(None)
    pulumi.runtime.set_all_config(stack_config, [])
    pulumi.runtime.set_mocks(
        mocks, project=layer.project, stack=environment, preview=False, monitor=monitor
    )
    SETTINGS.outputs.clear()
    _install_layer_modules(directory)
    with _offline_registrations():
        _sync_await(run_pulumi_func(lambda: runpy.run_path(str(directory), run_name="__main__")))
    _remember_layer_modules(directory)

    root = get_root_resource()
    exports = {
        key: _plain(_sync_await(pulumi.Output.from_input(value).future()))
        for key, value in sorted(getattr(root, "outputs", {}).items())
    }
    return RenderedStack(
        layer=layer.name,
        environment=environment,
        project=layer.project,
        resources=monitor.registrations,
        exports=exports,
        config=stack_config,
    )


def stack_name(org: str, layer: Layer, environment: str) -> str:
    return f"{org}/{layer.project}/{environment}"


@dataclass(frozen=True)
class LayerFailure:
    """A layer of an environment that was not rendered (``render_environment(failures=...)``)."""

    layer: str
    environment: str
    error: Exception | None  # what rendering the layer raised; None when it was not tried
    blocked_by: tuple[str, ...] = ()  # the failed upstream layers whose exports it reads

    @property
    def message(self) -> str:
        if self.blocked_by:
            return f"not rendered: it reads the exports of {', '.join(self.blocked_by)}"
        kind = "" if isinstance(self.error, PipelineError) else f"{type(self.error).__name__}: "
        return f"does not render: {kind}{self.error}"


def render_environment(
    environment: str,
    *,
    projects_dir: Path | None = None,
    failures: list[LayerFailure] | None = None,
) -> dict[str, RenderedStack]:
    """Every layer of one environment, in deploy order, each fed its upstream layers' exports.

    A layer that fails raises, unless ``failures`` is given: then the failure is appended to
    it, only the layers that read its exports are skipped (and appended too), and the result
    holds the layers that rendered.
    """
    rendered: dict[str, RenderedStack] = {}
    exports_by_stack: dict[str, dict[str, Any]] = {}
    failed: set[str] = set()
    for layer in deploy_order():
        blocked = tuple(upstream for upstream in layer.depends_on if upstream in failed)
        if blocked and failures is not None:
            failed.add(layer.name)
            failures.append(LayerFailure(layer.name, environment, None, blocked))
            continue
        try:
            stack = render_stack(
                layer.name,
                environment,
                upstream_exports=exports_by_stack,
                projects_dir=projects_dir,
            )
        except Exception as error:  # recorded when asked to; the other layers still render
            if failures is None:
                raise
            failed.add(layer.name)
            failures.append(LayerFailure(layer.name, environment, error))
            continue
        org = stack.config.get("pipeline:org", SELF_MANAGED_BACKEND_ORG)
        exports_by_stack[stack_name(org, layer, environment)] = stack.exports
        rendered[layer.name] = stack
    return rendered
