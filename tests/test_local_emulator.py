"""The local emulator: a real moto server process on a real loopback port, and the generated
local stack files. Each test uses its own temporary local folder."""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from shared.environments import stack_file
from shared.layers import Layer, load_graph
from shared.local.process import MARKER_OPTION
from shared.local_emulator import (
    EMULATED_SERVICES,
    HOST,
    EmulatorError,
    LocalEmulator,
    StopReport,
    answers,
)

LAYERS = load_graph().layers


def get_layer(name: str) -> Layer:
    return load_graph().get(name)


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[LocalEmulator]:
    local = LocalEmulator(tmp_path / "local")
    yield local
    local.stop()  # never leave a process behind, whatever the test did


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/stat")
    return not (status.is_file() and status.read_text().rsplit(")", 1)[1].split()[0] == "Z")


def proc_cmdline(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")


def port_open(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((HOST, port)) == 0


def test_emulator_starts_answers_aws_calls_on_loopback_and_stops_cleanly(
    emulator: LocalEmulator,
) -> None:
    import boto3

    info = emulator.start()
    assert info.endpoint == f"http://127.0.0.1:{info.port}"
    assert emulator.running() == info
    record = json.loads(emulator.info_file.read_text())
    assert {key: record[key] for key in ("pid", "port", "root")} == {
        "pid": info.pid,
        "port": info.port,
        "root": str(emulator.root.resolve()),
    }
    assert len(record["token"]) == 32
    assert f"{MARKER_OPTION}={record['token']}" in proc_cmdline(info.pid)

    session = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    )
    sts = session.client("sts", endpoint_url=info.endpoint)
    assert sts.get_caller_identity()["Account"] == "123456789012"
    s3 = session.client("s3", endpoint_url=info.endpoint)
    s3.create_bucket(Bucket="dev-rawdata-bucket")
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["dev-rawdata-bucket"]

    assert emulator.stop() == StopReport(stopped=info)
    assert not pid_alive(info.pid)
    assert not port_open(info.port)
    assert not answers(info.endpoint)
    assert emulator.running() is None
    assert not emulator.info_file.exists()
    assert not emulator.state_dir.exists()


def test_ensure_running_reuses_a_running_emulator(emulator: LocalEmulator) -> None:
    first, started = emulator.ensure_running()
    again, started_again = emulator.ensure_running()
    assert (started, started_again) == (True, False)
    assert again == first
    with pytest.raises(EmulatorError, match="already running"):
        emulator.start()


def test_stop_discards_the_local_state_and_stack_files(emulator: LocalEmulator) -> None:
    info = emulator.start()
    (emulator.state_dir / ".pulumi").mkdir(parents=True)
    emulator.write_stack_config(get_layer("storage"), "dev", info.endpoint)
    assert emulator.stop() == StopReport(stopped=info)
    assert not emulator.state_dir.exists()
    assert not emulator.projects_dir.exists()
    assert emulator.log_file.exists()  # kept for post-mortems


def test_stop_when_nothing_runs_still_discards_state(emulator: LocalEmulator) -> None:
    emulator.state_dir.mkdir(parents=True)
    assert emulator.stop() == StopReport()
    assert not emulator.state_dir.exists()


def test_start_discards_state_left_by_an_emulator_that_died(emulator: LocalEmulator) -> None:
    emulator.state_dir.mkdir(parents=True)
    (emulator.state_dir / "leftover.json").write_text("{}")
    emulator.info_file.write_text(json.dumps({"pid": 2**22 + 12345, "port": 1}))
    notices: list[str] = []
    info = emulator.start(notice=notices.append)
    assert notices == [
        f"stale pid file {emulator.info_file} (pid {2**22 + 12345} is not our emulator: the "
        "file has no marker token): removed"
    ]
    assert emulator.state_dir.is_dir()
    assert not (emulator.state_dir / "leftover.json").exists()
    assert emulator.running() == info


def test_start_on_a_taken_port_is_refused_before_anything_starts(emulator: LocalEmulator) -> None:
    with socket.socket() as taken:
        taken.bind((HOST, 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(EmulatorError) as raised:
            emulator.start(port)
    assert str(raised.value).startswith(f"port {port} is not free: 127.0.0.1:{port} is already")
    assert raised.value.exit_code == 2  # bad input: the user's port, not a failure
    assert not emulator.info_file.exists()
    assert not emulator.log_file.exists()  # no emulator was even started


# -- generated local stack files -------------------------------------------------------------


@pytest.mark.parametrize("layer", LAYERS, ids=lambda layer: layer.name)
def test_local_stack_file_adds_emulator_settings_and_leaves_the_committed_file_alone(
    emulator: LocalEmulator, layer: Layer
) -> None:
    committed_path = stack_file(layer, "staging")
    before = hashlib.sha256(committed_path.read_bytes()).hexdigest()
    generated_path = emulator.write_stack_config(layer, "staging", "http://127.0.0.1:4599")
    assert hashlib.sha256(committed_path.read_bytes()).hexdigest() == before
    committed = yaml.safe_load(committed_path.read_text())["config"]
    config = yaml.safe_load(generated_path.read_text())["config"]
    assert {key: config[key] for key in committed} == committed
    assert config["aws:endpoints"] == [dict.fromkeys(EMULATED_SERVICES, "http://127.0.0.1:4599")]
    assert generated_path == emulator.projects_dir / layer.name / "Pulumi.staging.yaml"


def test_a_scalar_the_cli_would_pass_as_written_is_copied_as_written(
    emulator: LocalEmulator, tmp_path: Path
) -> None:
    """`True` reaches a real deploy as the text "True" (refused); the local copy must not
    turn it into `true` (accepted), nor 0x800 into 2048."""
    from shared.testing import copy_projects

    graph = copy_projects(tmp_path / "projects", ["dev"])
    compute = graph.get("compute")
    path = compute.directory / "Pulumi.dev.yaml"
    path.write_text(path.read_text().replace("pipeline:tracing: false", "pipeline:tracing: True"))
    path.write_text(re.sub(r"(memorySize:) \d+", r"\1 0x200", path.read_text()))
    generated = emulator.write_stack_config(compute, "dev", "http://127.0.0.1:1")
    config = yaml.safe_load(generated.read_text())["config"]
    assert config["pipeline:tracing"] == "True"
    assert config["rawdata-compute:memorySize"] == "0x200"


def test_regenerating_keeps_the_salt_pulumi_added_to_the_local_copy(
    emulator: LocalEmulator,
) -> None:
    storage = get_layer("storage")
    path = emulator.write_stack_config(storage, "dev", "http://127.0.0.1:1111")
    path.write_text(path.read_text() + "encryptionsalt: v1:abc:def\n")
    emulator.write_stack_config(storage, "dev", "http://127.0.0.1:2222")
    document = yaml.safe_load(path.read_text())
    assert document["encryptionsalt"] == "v1:abc:def"
    assert document["config"]["aws:endpoints"][0]["s3"] == "http://127.0.0.1:2222"


def test_encrypted_committed_values_are_refused_by_name(
    emulator: LocalEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shared.testing import copy_projects

    graph = copy_projects(tmp_path / "projects", ["dev"])
    storage = graph.get("storage")
    (storage.directory / "Pulumi.dev.yaml").write_text(
        "config:\n  rawdata-storage:apiKey:\n    secure: AAABAcipher\n"
    )
    with pytest.raises(EmulatorError, match="'rawdata-storage:apiKey' is an encrypted secret"):
        emulator.write_stack_config(storage, "dev", "http://127.0.0.1:1")


def test_subprocess_environment_uses_fake_credentials_and_the_local_backend(
    emulator: LocalEmulator,
) -> None:
    from shared.local_emulator import EmulatorInfo

    env = emulator.environment(EmulatorInfo(pid=1, port=4599))
    assert env["PULUMI_BACKEND_URL"] == f"file://{emulator.root}/state"
    assert env["AWS_ACCESS_KEY_ID"] == env["AWS_SECRET_ACCESS_KEY"] == "testing"
    assert env["AWS_ENDPOINT_URL"] == "http://127.0.0.1:4599"
    assert "127.0.0.1" in env["NO_PROXY"].split(",")


def test_the_emulator_serves_every_aws_service_the_layers_declare(graph) -> None:
    """Local mode deploys every layer: each resource type's service (its pulumi-aws module;
    log groups are CloudWatch Logs) must be pointed at the emulator."""
    from shared.consistency.snapshots import snapshot_dir

    endpoint_of = {"aws:cloudwatch/logGroup:LogGroup": "logs"}
    needed = {"sts"}  # getCallerIdentity
    for layer in graph:
        for path in snapshot_dir(layer).glob("*.json"):
            for resource in json.loads(path.read_text())["resources"]:
                if resource["type"].startswith("aws:"):
                    module = resource["type"].split(":")[1].split("/")[0]
                    needed.add(endpoint_of.get(resource["type"], module))
    assert needed <= set(EMULATED_SERVICES), sorted(needed - set(EMULATED_SERVICES))
