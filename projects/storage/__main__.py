"""Storage layer: raw-data bucket, metadata table, dead-letter queue."""

import storage_layer

from shared.stack import StackContext

storage_layer.define_stack(StackContext.load("storage"))
