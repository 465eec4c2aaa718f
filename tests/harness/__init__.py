"""Test harness: run the real release binary as AWS Lambda would, and play Secrets Manager.

- ``runtime_api``: a local Lambda Runtime API server (one per function process).
- ``function``: the function process, its environment and its captured log lines.
- ``local_lambda``: Lambda's behaviour around them: a warm process reused across
  invocations, a fresh (cold) one after a crash.
- ``driver``: Secrets Manager's side of a rotation: the placeholder version, the four
  steps in order, a retry from the start with the same token on failure.
- ``aws``: boto3 clients for the emulator and fixtures (a bound user and its secret).
"""

from .aws import Aws, BoundUser
from .driver import RotationRecord, SecretsManagerDriver
from .function import FunctionProcess, LogSink, find_binary
from .local_lambda import InvocationResult, LocalLambda
from .runtime_api import RuntimeApi

__all__ = [
    "Aws",
    "BoundUser",
    "FunctionProcess",
    "InvocationResult",
    "LocalLambda",
    "LogSink",
    "RotationRecord",
    "RuntimeApi",
    "SecretsManagerDriver",
    "find_binary",
]
