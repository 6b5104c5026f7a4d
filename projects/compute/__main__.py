"""Compute layer: log group, validator Lambda, S3 notification, failed-event alarm."""

from compute_layer import define_stack

from shared.stack import StackContext

define_stack(StackContext.load(__file__))
