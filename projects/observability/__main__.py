"""The observability layer's program: its stack, defined in observability_layer.py."""

from observability_layer import define_stack

from shared.stack import StackContext

define_stack(StackContext.load(__file__))
