"""Compute layer: log group, validator Lambda, S3 notification, failed-event alarm."""

import compute_layer

from shared.stack import StackContext

compute_layer.define_stack(StackContext.load("compute"))
