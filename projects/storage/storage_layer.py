"""The storage layer: the raw-data bucket, the metadata table and the dead-letter queue."""

from __future__ import annotations

import json
from typing import Literal, Self

import pulumi
import pulumi_aws as aws
from pydantic import Field, model_validator

from shared.naming import NamePart
from shared.settings import StackSettings, read_settings
from shared.stack import StackContext

DEAD_LETTER_RETENTION_SECONDS = 14 * 24 * 60 * 60  # the SQS maximum
TABLE_HASH_KEY = "object_key"
TABLE_RANGE_KEY = "version_id"  # the bucket is versioned: one item per object version

# The parts of each physical name: {environment}-{service}-{resource}.
BUCKET: NamePart = ("rawdata", "bucket")
TABLE: NamePart = ("metadata", "table")
DEAD_LETTER_QUEUE: NamePart = ("validator", "dlq")


CAPACITY_RULE = "a whole number from 1 to 40000, only with tableBillingMode PROVISIONED"


class StorageSettings(StackSettings):
    """``rawdata-storage:*`` keys. Safety settings default to the safe value."""

    bucket_name_suffix: str = Field(
        "",
        pattern=r"^([a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?)?$",
        description="empty, or 1-32 lowercase letters, digits and hyphens, "
        "starting and ending with a letter or digit",
    )
    force_destroy: bool = False
    noncurrent_version_expiration_days: int = Field(
        ge=1, le=36500, description="a whole number of days from 1 to 36500"
    )
    table_billing_mode: Literal["PROVISIONED", "PAY_PER_REQUEST"] = Field(
        description="PROVISIONED (with tableReadCapacity and tableWriteCapacity) "
        "or PAY_PER_REQUEST (on-demand, no capacity keys)"
    )
    table_read_capacity: int | None = Field(None, ge=1, le=40000, description=CAPACITY_RULE)
    table_write_capacity: int | None = Field(None, ge=1, le=40000, description=CAPACITY_RULE)
    point_in_time_recovery: bool = True
    deletion_protection: bool = True
    protect_stateful_resources: bool = True

    @model_validator(mode="after")
    def capacity_matches_billing_mode(self) -> Self:
        capacity = {
            "tableReadCapacity": self.table_read_capacity,
            "tableWriteCapacity": self.table_write_capacity,
        }
        given = [key for key, value in capacity.items() if value is not None]
        if self.table_billing_mode == "PAY_PER_REQUEST" and given:
            raise ValueError(
                f"tableBillingMode is PAY_PER_REQUEST (on-demand), which takes no capacity, "
                f"but {' and '.join(given)} {'is' if len(given) == 1 else 'are'} set: "
                "remove them, or use tableBillingMode PROVISIONED"
            )
        if self.table_billing_mode == "PROVISIONED" and len(given) < len(capacity):
            missing = [key for key in capacity if key not in given]
            raise ValueError(
                f"tableBillingMode is PROVISIONED, which needs {' and '.join(missing)} "
                "(whole numbers from 1 to 40000), or use tableBillingMode PAY_PER_REQUEST"
            )
        return self


def deny_insecure_transport(bucket_arn: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "DenyInsecureTransport",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "s3:*",
                    "Resource": [bucket_arn, f"{bucket_arn}/*"],
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                }
            ],
        }
    )


class StorageLayer(pulumi.ComponentResource):
    def __init__(self, context: StackContext, settings: StorageSettings) -> None:
        super().__init__("rawdata:layers:Storage", "storage", None)
        child = pulumi.ResourceOptions(parent=self)
        stateful = pulumi.ResourceOptions(parent=self, protect=settings.protect_stateful_resources)
        tags = context.tags

        self.bucket = aws.s3.Bucket(
            "rawdata-bucket",
            bucket=context.name(BUCKET, settings.bucket_name_suffix),
            force_destroy=settings.force_destroy,
            tags=tags,
            opts=stateful,
        )
        ownership = aws.s3.BucketOwnershipControls(
            "rawdata-bucket-ownership",
            bucket=self.bucket.id,
            rule={"object_ownership": "BucketOwnerEnforced"},
            opts=child,
        )
        public_access_block = aws.s3.BucketPublicAccessBlock(
            "rawdata-bucket-public-access-block",
            bucket=self.bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=child,
        )
        aws.s3.BucketServerSideEncryptionConfiguration(
            "rawdata-bucket-encryption",
            bucket=self.bucket.id,
            rules=[{"apply_server_side_encryption_by_default": {"sse_algorithm": "AES256"}}],
            opts=child,
        )
        versioning = aws.s3.BucketVersioning(
            "rawdata-bucket-versioning",
            bucket=self.bucket.id,
            versioning_configuration={"status": "Enabled"},
            opts=child,
        )
        aws.s3.BucketLifecycleConfiguration(
            "rawdata-bucket-lifecycle",
            bucket=self.bucket.id,
            rules=[
                {
                    "id": "expire-noncurrent-versions",
                    "status": "Enabled",
                    "filter": {},
                    "noncurrent_version_expiration": {
                        "noncurrent_days": settings.noncurrent_version_expiration_days
                    },
                }
            ],
            # S3 rejects noncurrent-version rules until versioning is on.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[versioning]),
        )
        aws.s3.BucketPolicy(
            "rawdata-bucket-tls-only",
            bucket=self.bucket.id,
            policy=self.bucket.arn.apply(deny_insecure_transport),
            # Both change bucket-level access settings; S3 rejects them when they race.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[public_access_block, ownership]),
        )

        provisioned = settings.table_billing_mode == "PROVISIONED"
        self.table = aws.dynamodb.Table(
            "metadata-table",
            name=context.name(TABLE),
            billing_mode=settings.table_billing_mode,
            read_capacity=settings.table_read_capacity if provisioned else None,
            write_capacity=settings.table_write_capacity if provisioned else None,
            hash_key=TABLE_HASH_KEY,
            range_key=TABLE_RANGE_KEY,
            attributes=[
                {"name": TABLE_HASH_KEY, "type": "S"},
                {"name": TABLE_RANGE_KEY, "type": "S"},
            ],
            point_in_time_recovery={"enabled": settings.point_in_time_recovery},
            deletion_protection_enabled=settings.deletion_protection,
            tags=tags,
            opts=stateful,
        )

        self.dead_letter_queue = aws.sqs.Queue(
            "validator-dlq",
            name=context.name(DEAD_LETTER_QUEUE),
            message_retention_seconds=DEAD_LETTER_RETENTION_SECONDS,
            sqs_managed_sse_enabled=True,
            tags=tags,
            opts=stateful,
        )

        self.register_outputs(
            {
                "bucket_name": self.bucket.bucket,
                "table_name": self.table.name,
                "dead_letter_queue_url": self.dead_letter_queue.url,
            }
        )


def define_stack(context: StackContext) -> StorageLayer:
    layer = StorageLayer(context, read_settings(StorageSettings, context.layer.project))
    context.export("bucket_name", layer.bucket.bucket)
    context.export("bucket_arn", layer.bucket.arn)
    context.export("table_name", layer.table.name)
    context.export("table_arn", layer.table.arn)
    context.export("dead_letter_queue_name", layer.dead_letter_queue.name)
    context.export("dead_letter_queue_arn", layer.dead_letter_queue.arn)
    context.export("dead_letter_queue_url", layer.dead_letter_queue.url)
    return layer
