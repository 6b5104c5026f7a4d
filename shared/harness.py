"""Render a layer's Pulumi program offline: real stack files, Pulumi's own mocks, no cloud.

``render_stack`` runs ``projects/<layer>/__main__.py`` as the Pulumi CLI would (the project
folder is the program, its config arrives in ``PULUMI_CONFIG``), under
``pulumi.runtime.set_mocks``. The mocks answer like AWS for any resource type
(``shared.aws_resources``) and answer each StackReference with the upstream stack's exports:
the real ones when the upstream layer was rendered first (``render_environment``), otherwise
the examples its ``layer.yaml`` declares. Every registration is recorded with its inputs,
parent, dependencies and ``protect`` flag.

Only public Pulumi APIs: ``reset_options``, ``set_mocks`` (with a ``MockMonitor`` subclass
that records what the engine would see), ``pulumi.runtime.test``, ``get_root_resource``.

The unit tests, ``invoke render``, ``invoke check`` and ``invoke new-env`` use this harness.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
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
from pulumi.runtime.mocks import MockMonitor

from shared.aws_resources import MOCK_ACCOUNT_ID, MOCK_PARTITION, mock_state
from shared.environments import read_stack_config, stack_file
from shared.errors import PipelineError, SettingsError
from shared.layers import Layer, LayerGraph, load_graph
from shared.naming import export_key
from shared.stack import EXPORTS_READ, SELF_MANAGED_BACKEND_ORG, upstream_stack_name

STACK_REFERENCE_TYPE = "pulumi:pulumi:StackReference"
ROOT_STACK_TYPE = "pulumi:pulumi:Stack"


class LayerContractError(PipelineError):
    """A layer's program and its declared exports (``layer.yaml``) disagree."""

    exit_code = 1


# --------------------------------------------------------------------------- mocks
class PipelineMocks(pulumi.runtime.Mocks):
    """Answers like AWS for every resource, and StackReferences from upstream exports."""

    def __init__(self, region: str, upstream_exports: Mapping[str, Mapping[str, Any]]) -> None:
        self.region = region
        self.upstream_exports = upstream_exports
        # One slot per registration being handled, innermost last: a registration's handling
        # can run others to completion (the SDK pumps its event loop while serialising), so
        # the registration whose inputs arrive here is always the innermost one.
        self.slots: list[dict[str, Any]] = []

    def new_resource(
        self, args: pulumi.runtime.MockResourceArgs
    ) -> tuple[str | None, dict[str, Any]]:
        if self.slots:
            self.slots[-1].setdefault("inputs", args.inputs)
        if args.typ == STACK_REFERENCE_TYPE:
            stack_name = args.inputs["name"]
            outputs = dict(self.upstream_exports.get(stack_name, {}))
            return stack_name, {"name": stack_name, "outputs": outputs, "secretOutputNames": []}
        return mock_state(args.typ, args.name, args.inputs, self.region)

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
            f"the offline renderer answers no data source {args.token}; add it to "
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


# Pulumi's wire protocol marks a secret value as {SIGNATURE_KEY: SECRET_SIGNATURE, "value": v}
# (the special values of its property serialisation, documented with the resource monitor's
# protocol); the provider marks some inputs secret itself (an SSM parameter's value).
SIGNATURE_KEY = "4dabf18193072939515e22adb298388d"
SECRET_SIGNATURE = "1b47061264138c4ac30d75fd1eb44270"


def plain(value: Any) -> Any:
    """Inputs as JSON-able data; assets become their size and digest, not their text; a
    secret becomes its value (offline renders hold no real secrets: stack files with
    secrets are refused)."""
    if isinstance(value, Mapping) and value.get(SIGNATURE_KEY) == SECRET_SIGNATURE:
        return plain(value.get("value"))
    if isinstance(value, pulumi.StringAsset):
        text = value.text.encode()
        return {"stringAsset": {"bytes": len(text), "sha256": hashlib.sha256(text).hexdigest()}}
    if isinstance(value, pulumi.AssetArchive):
        return {
            "assetArchive": {name: plain(asset) for name, asset in sorted(value.assets.items())}
        }
    if isinstance(value, pulumi.Asset | pulumi.Archive):
        return {type(value).__name__: repr(value)}
    if isinstance(value, float) and value.is_integer():
        return int(value)  # the wire protocol carries every number as a double
    if isinstance(value, Mapping):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    return value


class RecordingMonitor(MockMonitor):
    """Pulumi's mock monitor, also keeping what the engine would see of each registration:
    its inputs, parent, dependencies and ``protect`` option."""

    def __init__(self, mocks: PipelineMocks) -> None:
        super().__init__(mocks)
        self.pipeline_mocks = mocks
        self.registrations: list[RenderedResource] = []

    def RegisterResource(self, request: Any) -> Any:
        with self._slot() as slot:
            response = super().RegisterResource(request)
        if request.type != ROOT_STACK_TYPE:
            self._record(response.urn, request, slot, bool(request.custom), bool(request.protect))
        return response

    def ReadResource(self, request: Any) -> Any:
        """StackReferences are reads: record which stack is read, not its outputs."""
        with self._slot() as slot:
            response = super().ReadResource(request)
        self._record(response.urn, request, slot, custom=True, protect=False)
        return response

    @contextmanager
    def _slot(self) -> Iterator[dict[str, Any]]:
        slot: dict[str, Any] = {}
        slots = self.pipeline_mocks.slots
        slots.append(slot)
        try:
            yield slot
        finally:
            del slots[next(index for index, each in enumerate(slots) if each is slot)]

    def _record(
        self, urn: str, request: Any, slot: dict[str, Any], custom: bool, protect: bool
    ) -> None:
        inputs = slot["inputs"]
        if request.type == STACK_REFERENCE_TYPE:
            inputs = {"name": inputs["name"]}
        self.registrations.append(
            RenderedResource(
                urn=urn,
                type=request.type,
                name=request.name,
                custom=custom,
                inputs=plain(inputs),
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
    # (upstream layer, export key) of every upstream export the program read
    reads: list[tuple[str, str]] = field(default_factory=list)

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

    def named(self, logical_name: str) -> RenderedResource:
        for resource in self.resources:
            if resource.name == logical_name:
                return resource
        raise LookupError(f"{self.layer}/{self.environment}: no resource named {logical_name!r}")

    def by_urn(self, urn: str) -> RenderedResource:
        for resource in self.resources:
            if resource.urn == urn:
                return resource
        raise LookupError(f"{self.layer}/{self.environment}: no resource with urn {urn}")


# --------------------------------------------------------------------------- the program's modules
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


# Per project folder, the modules its program imported from that folder, with each file's
# (mtime, size) then. The next render of the same folder reinstalls them instead of importing
# them again (compiling, rebuilding pydantic models): the program (``__main__.py``) still runs
# every time, and an edited file is imported afresh. A folder's modules are forgotten before
# another folder with modules of the same names (an edited copy of projects/) renders.
_imported_from_folder: dict[Path, dict[str, tuple[ModuleType, tuple[int, int]]]] = {}


def _file_stamp(file: str) -> tuple[int, int]:
    status = os.stat(file)
    return (status.st_mtime_ns, status.st_size)


@contextmanager
def _layer_modules(directory: Path) -> Iterator[None]:
    provided = _provided_modules(directory)
    for name in _loaded_names(provided):
        del sys.modules[name]
    for name, (module, stamp) in _imported_from_folder.get(directory, {}).items():
        file = module.__file__ or ""
        if os.path.exists(file) and _file_stamp(file) == stamp:
            sys.modules[name] = module
    try:
        yield
    finally:
        folder = f"{directory}{os.sep}"
        remembered = {}
        for name in _loaded_names(provided):
            file = getattr(sys.modules[name], "__file__", None) or ""
            if file.startswith(folder):
                remembered[name] = (sys.modules[name], _file_stamp(file))
        _imported_from_folder[directory] = remembered


# --------------------------------------------------------------------------- rendering
class _InlineExecutor(ThreadPoolExecutor):
    """Runs each call at once in the caller's thread. The SDK sends every monitor call to the
    event loop's default executor; the mock monitor answers synchronously, so a thread per
    call is pure latency. Installed with asyncio's public ``set_default_executor`` on the
    event loop the harness owns."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as error:  # delivered to the awaiting coroutine, as a thread would
            future.set_exception(error)
        return future


_loop: asyncio.AbstractEventLoop | None = None


def _quiet_about_failed_renders(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """A render that fails raises its error; the Outputs that failed with it are dropped
    unread, and asyncio would log each one ("exception was never retrieved"). Anything
    else goes to asyncio's default handler."""
    if "never retrieved" not in str(context.get("message", "")):
        loop.default_exception_handler(context)


def _render_loop() -> asyncio.AbstractEventLoop:
    """The event loop renders run on: the harness's own, made current for this thread."""
    global _loop
    if _loop is None or _loop.is_closed():
        _loop = asyncio.new_event_loop()
        _loop.set_default_executor(_InlineExecutor(max_workers=1))  # never starts a thread
        _loop.set_exception_handler(_quiet_about_failed_renders)
    asyncio.set_event_loop(_loop)
    return _loop


@contextmanager
def _program_config(config: Mapping[str, str]) -> Iterator[None]:
    """Hand the program its config as the Pulumi CLI does: in ``PULUMI_CONFIG``."""
    saved = {name: os.environ.get(name) for name in ("PULUMI_CONFIG", "PULUMI_CONFIG_SECRET_KEYS")}
    os.environ["PULUMI_CONFIG"] = json.dumps(dict(config))
    os.environ["PULUMI_CONFIG_SECRET_KEYS"] = "[]"
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _run_program(program: str) -> dict[str, Any]:
    """Run the program and await its exports, in one ``pulumi.runtime.test`` run."""
    resolved: dict[str, Any] = {}

    def program_and_exports() -> pulumi.Output[None]:
        runpy.run_path(program, run_name="__main__")
        outputs = dict(getattr(pulumi.runtime.get_root_resource(), "outputs", None) or {})
        return pulumi.Output.all(**outputs).apply(resolved.update)

    pulumi.runtime.test(program_and_exports)()
    return {key: plain(resolved[key]) for key in sorted(resolved)}


def contract_exports(upstream: Layer, environment: str) -> dict[str, Any]:
    """What an upstream stack exports according to its ``layer.yaml``: each declared key with
    its example value."""
    return {
        export_key(environment, export.key): export.example_for(environment)
        for export in upstream.exports
    }


def render_stack(
    layer_name: str,
    environment: str,
    *,
    upstream_exports: Mapping[str, Mapping[str, Any]] | None = None,
    config: Mapping[str, str] | None = None,
    graph: LayerGraph | None = None,
) -> RenderedStack:
    """Run one layer's program for one environment under mocks and return what it declared.

    ``upstream_exports`` maps fully qualified stack names (``org/project/stack``) to their
    outputs; an upstream stack not in it answers with its declared examples. ``config``
    replaces the stack file (tests use it to feed bad settings).
    """
    graph = graph or load_graph()
    layer = graph.get(layer_name)
    stack_config = dict(config) if config is not None else read_stack_config(layer, environment)
    org = stack_config.get("pipeline:org", SELF_MANAGED_BACKEND_ORG)
    answers = {
        upstream_stack_name(org, upstream, environment): contract_exports(upstream, environment)
        for upstream in graph.upstreams(layer)
    }
    answers.update(upstream_exports or {})
    mocks = PipelineMocks(stack_config.get("aws:region", "us-east-1"), answers)
    monitor = RecordingMonitor(mocks)

    _render_loop()
    EXPORTS_READ.clear()
    with _program_config(stack_config), _layer_modules(layer.directory):
        pulumi.runtime.reset_options(project=layer.project, stack=environment, preview=False)
        pulumi.runtime.set_mocks(
            mocks, project=layer.project, stack=environment, preview=False, monitor=monitor
        )
        exports = _run_program(str(layer.directory))
    return RenderedStack(
        layer=layer.name,
        environment=environment,
        project=layer.project,
        resources=monitor.registrations,
        exports=exports,
        config=stack_config,
        reads=sorted(
            {(upstream, key) for reader, upstream, key in EXPORTS_READ if reader == layer.name}
        ),
    )


def contract_violations(layer: Layer, stack: RenderedStack) -> list[str]:
    """Where a rendered stack's exports and its layer's declared exports disagree."""
    environment = stack.environment
    declared = {export_key(environment, export.key): export for export in layer.exports}
    problems = []
    for key in sorted(set(declared) - set(stack.exports)):
        problems.append(
            f"{layer.shown(layer.manifest)} declares export {declared[key].key!r}, which the "
            f"{environment} program does not export"
        )
    for key in sorted(set(stack.exports) - set(declared)):
        problems.append(
            f"the {environment} program exports {key!r}, which {layer.shown(layer.manifest)} "
            "does not declare"
        )
    for key in sorted(set(declared) & set(stack.exports)):
        example, value = declared[key].example_for(environment), stack.exports[key]
        if type(example) is not type(value) and value is not None:
            problems.append(
                f"export {declared[key].key!r} is a {type(value).__name__} ({value!r}), but "
                f"{layer.shown(layer.manifest)} gives a {type(example).__name__} example "
                f"({example!r})"
            )
    return problems


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

    def __str__(self) -> str:
        return f"{self.layer}/{self.environment} {self.message}"


def render_environment(
    environment: str,
    *,
    graph: LayerGraph | None = None,
    failures: list[LayerFailure] | None = None,
) -> dict[str, RenderedStack]:
    """Every layer of one environment, in deploy order, each fed its upstream layers' real
    exports, each held to its declared exports.

    A layer that fails raises, unless ``failures`` is given: then the failure is appended to
    it, only the layers that read its exports are skipped (and appended too), and the result
    holds the layers that rendered. A layer without a stack file for ``environment`` fails
    with the file's name.
    """
    graph = graph or load_graph()
    rendered: dict[str, RenderedStack] = {}
    exports_by_stack: dict[str, dict[str, Any]] = {}
    failed: set[str] = set()
    for layer in graph.deploy_order():
        blocked = tuple(upstream for upstream in layer.depends_on if upstream in failed)
        if blocked and failures is not None:
            failed.add(layer.name)
            failures.append(LayerFailure(layer.name, environment, None, blocked))
            continue
        try:
            if not stack_file(layer, environment).is_file():
                raise SettingsError(f"no stack file {layer.shown(stack_file(layer, environment))}")
            stack = render_stack(
                layer.name, environment, upstream_exports=exports_by_stack, graph=graph
            )
            problems = contract_violations(layer, stack)
            if problems:
                raise LayerContractError("; ".join(problems))
        except Exception as error:  # recorded when asked to; the other layers still render
            if failures is None:
                raise
            failed.add(layer.name)
            failures.append(LayerFailure(layer.name, environment, error))
            continue
        org = stack.config.get("pipeline:org", SELF_MANAGED_BACKEND_ORG)
        exports_by_stack[upstream_stack_name(org, layer, environment)] = stack.exports
        rendered[layer.name] = stack
    return rendered
