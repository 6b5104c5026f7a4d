"""Storage layer: the raw-data bucket, the metadata table and the dead-letter queue.

``EXPECTED`` holds the per-environment values the pipeline must have (the user's numbers,
the seed task and issue 2), written once, not read back from the code under test.
"""

from __future__ import annotations

import json

import pytest

from shared.aws_resources import MOCK_ACCOUNT_ID as ACCOUNT_ID
from shared.errors import SettingsError
from shared.harness import RenderedStack, render_stack
from shared.testing import Rendered, stack_config_with

REGION = "us-east-1"
EXPECTED = {
    "dev": {
        "billing_mode": "PROVISIONED",
        "capacity": 1,
        "force_destroy": True,
        "point_in_time_recovery": False,
        "deletion_protection": False,
        "protected": False,
        "noncurrent_version_days": 30,
    },
    "staging": {
        "billing_mode": "PROVISIONED",
        "capacity": 5,
        "force_destroy": False,
        "point_in_time_recovery": False,
        "deletion_protection": False,
        "protected": False,
        "noncurrent_version_days": 30,
    },
    "prod": {
        "billing_mode": "PAY_PER_REQUEST",
        "capacity": None,
        "force_destroy": False,
        "point_in_time_recovery": True,
        "deletion_protection": True,
        "protected": True,
        "noncurrent_version_days": 90,
    },
}


@pytest.fixture(params=EXPECTED)
def env(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def storage(rendered: Rendered, env: str) -> RenderedStack:
    return rendered[env]["storage"]


BUCKET = "aws:s3/bucket:Bucket"
TABLE = "aws:dynamodb/table:Table"
QUEUE = "aws:sqs/queue:Queue"


def guard(stack: RenderedStack, type_name: str):
    return stack.one(f"aws:s3/{type_name[0].lower()}{type_name[1:]}:{type_name}")


def test_bucket_is_named_env_rawdata_bucket(storage: RenderedStack, env: str) -> None:
    assert storage.one(BUCKET)["bucket"] == f"{env}-rawdata-bucket"


def test_bucket_versioning_is_enabled(storage: RenderedStack) -> None:
    versioning = guard(storage, "BucketVersioning")
    assert versioning["versioningConfiguration"] == {"status": "Enabled"}
    assert versioning["bucket"] == storage.one(BUCKET)["bucket"]


def test_bucket_blocks_all_public_access(storage: RenderedStack) -> None:
    block = guard(storage, "BucketPublicAccessBlock")
    assert {
        key: block[key]
        for key in (
            "blockPublicAcls",
            "blockPublicPolicy",
            "ignorePublicAcls",
            "restrictPublicBuckets",
        )
    } == {
        "blockPublicAcls": True,
        "blockPublicPolicy": True,
        "ignorePublicAcls": True,
        "restrictPublicBuckets": True,
    }


def test_bucket_has_default_encryption(storage: RenderedStack) -> None:
    rules = guard(storage, "BucketServerSideEncryptionConfiguration")["rules"]
    assert rules == [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}]


def test_bucket_acls_are_disabled(storage: RenderedStack) -> None:
    assert guard(storage, "BucketOwnershipControls")["rule"] == {
        "objectOwnership": "BucketOwnerEnforced"
    }


def test_bucket_policy_denies_requests_without_tls(storage: RenderedStack, env: str) -> None:
    policy = json.loads(guard(storage, "BucketPolicy")["policy"])
    bucket_arn = f"arn:aws:s3:::{env}-rawdata-bucket"
    assert policy["Statement"] == [
        {
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [bucket_arn, f"{bucket_arn}/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
    ]


def test_bucket_policy_waits_for_the_public_access_block(storage: RenderedStack) -> None:
    policy = guard(storage, "BucketPolicy")
    assert guard(storage, "BucketPublicAccessBlock").urn in policy.dependencies


def test_noncurrent_versions_expire_after_the_configured_days(
    storage: RenderedStack, env: str
) -> None:
    lifecycle = guard(storage, "BucketLifecycleConfiguration")
    [rule] = lifecycle["rules"]
    assert rule["status"] == "Enabled"
    assert rule["filter"] == {}
    assert rule["noncurrentVersionExpiration"] == {
        "noncurrentDays": EXPECTED[env]["noncurrent_version_days"]
    }
    # S3 refuses noncurrent-version rules on a bucket whose versioning is not yet enabled.
    assert guard(storage, "BucketVersioning").urn in lifecycle.dependencies


def test_force_destroy_only_where_the_stack_allows_it(storage: RenderedStack, env: str) -> None:
    assert storage.one(BUCKET)["forceDestroy"] is EXPECTED[env]["force_destroy"]


def test_table_keys_are_object_key_and_version_id(storage: RenderedStack, env: str) -> None:
    table = storage.one(TABLE)
    assert table["name"] == f"{env}-metadata-table"
    assert (table["hashKey"], table["rangeKey"]) == ("object_key", "version_id")
    assert table["attributes"] == [
        {"name": "object_key", "type": "S"},
        {"name": "version_id", "type": "S"},
    ]


def test_table_billing_and_capacity(storage: RenderedStack, env: str) -> None:
    table = storage.one(TABLE)
    expected = EXPECTED[env]
    assert table["billingMode"] == expected["billing_mode"]
    assert table.inputs.get("readCapacity") == expected["capacity"]
    assert table.inputs.get("writeCapacity") == expected["capacity"]


def test_table_recovery_and_deletion_protection(storage: RenderedStack, env: str) -> None:
    table = storage.one(TABLE)
    assert table["pointInTimeRecovery"] == {"enabled": EXPECTED[env]["point_in_time_recovery"]}
    assert table["deletionProtectionEnabled"] is EXPECTED[env]["deletion_protection"]


def test_stateful_resources_are_protected_in_prod_only(storage: RenderedStack, env: str) -> None:
    protected = {resource.name for resource in storage if resource.protect}
    expected = (
        {"rawdata-bucket", "metadata-table", "validator-dlq"}
        if EXPECTED[env]["protected"]
        else set()
    )
    assert protected == expected


def test_dead_letter_queue(storage: RenderedStack, env: str) -> None:
    queue = storage.one(QUEUE)
    assert queue["name"] == f"{env}-validator-dlq"
    assert queue["messageRetentionSeconds"] == 14 * 24 * 3600
    assert queue["sqsManagedSseEnabled"] is True


def test_exports_are_environment_prefixed_and_complete(storage: RenderedStack, env: str) -> None:
    assert storage.exports == {
        f"{env}_bucket_name": f"{env}-rawdata-bucket",
        f"{env}_bucket_arn": f"arn:aws:s3:::{env}-rawdata-bucket",
        f"{env}_table_name": f"{env}-metadata-table",
        f"{env}_table_arn": f"arn:aws:dynamodb:{REGION}:{ACCOUNT_ID}:table/{env}-metadata-table",
        f"{env}_dead_letter_queue_name": f"{env}-validator-dlq",
        f"{env}_dead_letter_queue_arn": f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{env}-validator-dlq",
        f"{env}_dead_letter_queue_url": f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT_ID}/{env}-validator-dlq",
    }


def test_children_are_grouped_under_the_storage_component(storage: RenderedStack) -> None:
    component = storage.one("rawdata:layers:Storage")
    assert {resource.parent for resource in storage if resource is not component} == {component.urn}


def dev_config(**overrides: str | None) -> dict[str, str]:
    return stack_config_with("storage", "dev", **overrides)


@pytest.mark.parametrize("suffix", ["acme-data", "7"])
def test_bucket_name_suffix_is_optional_and_appended(suffix: str) -> None:
    stack = render_stack("storage", "dev", config=dev_config(bucketNameSuffix=suffix))
    assert stack.one(BUCKET)["bucket"] == f"dev-rawdata-bucket-{suffix}"
    assert stack.exports["dev_bucket_arn"] == f"arn:aws:s3:::dev-rawdata-bucket-{suffix}"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"tableBillingMode": "ON_DEMAND"},
            "rawdata-storage:tableBillingMode = 'ON_DEMAND' is not allowed: "
            "Input should be 'PROVISIONED' or 'PAY_PER_REQUEST'",
        ),
        (
            {"tableBillingMode": "PAY_PER_REQUEST"},
            "tableBillingMode is PAY_PER_REQUEST (on-demand), which takes no capacity, "
            "but tableReadCapacity and tableWriteCapacity are set",
        ),
        (
            {"tableWriteCapacity": None},
            "tableBillingMode is PROVISIONED, which needs tableWriteCapacity",
        ),
        (
            {"tableReadCapacity": "0"},
            "rawdata-storage:tableReadCapacity = 0 is not allowed: Input should be greater than or equal to 1",
        ),
        (
            {"noncurrentVersionExpirationDays": None},
            "rawdata-storage:noncurrentVersionExpirationDays is required but not set in the stack file (allowed: a whole number of days from 1 to 36500)",
        ),
        (
            {"bucketNameSuffix": "Has_Capitals"},
            "rawdata-storage:bucketNameSuffix = 'Has_Capitals' is not allowed; allowed: empty, "
            "or 1-32 lowercase letters, digits and hyphens, starting and ending with a letter or digit",
        ),
        (
            {"forceDestory": "true"},
            "rawdata-storage:forceDestory is not a known setting; allowed keys: "
            "rawdata-storage:bucketNameSuffix, rawdata-storage:forceDestroy",
        ),
        (
            {"forceDestroy": "sometimes"},
            "rawdata-storage:forceDestroy = 'sometimes' is not allowed: Input should be a valid boolean; allowed: true or false",
        ),
    ],
)
def test_bad_storage_settings_name_the_key_value_and_allowed(
    overrides: dict[str, str | None], message: str
) -> None:
    with pytest.raises(SettingsError) as raised:
        render_stack("storage", "dev", config=dev_config(**overrides))
    assert message in str(raised.value)
