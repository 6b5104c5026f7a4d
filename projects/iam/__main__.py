"""IAM layer: the validator's execution role and least-privilege policy."""

from iam_layer import define_stack

from shared.stack import StackContext

define_stack(StackContext.load(__file__))
