"""The audit's fan-out as Lambda runs it: the function queues one asynchronous invocation
of itself per account (the emulator keeps them, ``bulk.py``), and Lambda's asynchronous
queue delivers each to a function process."""

from __future__ import annotations

from .local_lambda import InvocationResult, LocalLambda
from .runtime_api import FUNCTION_ARN

AUDIT = {"source": "iam-password-rotation", "detail-type": "IAM Password Audit Requested", "detail": {}}


def audit_request(**detail) -> dict:
    """An audit request as the schedule (or anyone allowed to invoke the function) sends it."""
    return {**AUDIT, "detail": detail}


def run_queued(aws, function: LocalLambda) -> list[tuple[dict, InvocationResult]]:
    """Take every queued asynchronous invocation and run it, in order, on ``function``; each
    must be addressed to the function itself. Returns ``[(payload, result)]``."""
    runs = []
    for invocation in aws.control.take_lambda_invocations():
        assert invocation["FunctionName"] == FUNCTION_ARN, invocation
        runs.append((invocation["Payload"], function.invoke(invocation["Payload"])))
    return runs
