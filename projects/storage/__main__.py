"""Storage layer: raw-data bucket, metadata table, dead-letter queue."""

from storage_layer import define_stack

from shared.stack import StackContext

define_stack(StackContext.load(__file__))
