"""IAM layer: the validator's execution role and least-privilege policy."""

import iam_layer

from shared.stack import StackContext

iam_layer.define_stack(StackContext.load("iam"))
