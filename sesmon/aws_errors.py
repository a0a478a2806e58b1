"""One line for a failed AWS call: what went wrong and its fix (the words `setup` and `doctor` share)."""

from __future__ import annotations

from typing import Final

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    PartialCredentialsError,
    ReadTimeoutError,
)

from sesmon.iam import action_of

DENIED_CODES: Final = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "UnauthorizedOperation",
        "AuthorizationError",
        "AuthorizationErrorException",
        "UnauthorizedException",
        "InvalidClientTokenId",
    }
)
# AWS answered, but the credentials themselves are wrong or out of date (not a missing permission).
REJECTED_CODES: Final = frozenset(
    {
        "ExpiredToken",
        "ExpiredTokenException",
        "InvalidClientTokenId",
        "SignatureDoesNotMatch",
        "UnrecognizedClientException",
        "InvalidAccessKeyId",
    }
)
NO_CREDENTIALS: Final = "no AWS credentials found in the default chain"
CREDENTIALS_FIX: Final = (
    "give sesmon credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment, "
    "a profile (AWS_PROFILE, or `aws configure`), or a role (IRSA, ECS task role, instance role)"
)
# Outside doctor, the fix also says where to see what the chain finds.
CREDENTIALS_FIX_ELSEWHERE: Final = f"{CREDENTIALS_FIX}; `sesmon doctor` shows which source it finds"
REJECTED_FIX: Final = "renew or fix the credentials"
UNREACHABLE_FIX: Final = "check the network or proxy (HTTPS_PROXY) and the target's region and endpoint_url"
# The commands printing the policy a denied call's fix points at: the daemon's (run, doctor,
# resume) and the one `sesmon setup --apply` needs.
POLICY_COMMAND: Final = "sesmon iam-policy --config CONFIG"
SETUP_POLICY_COMMAND: Final = "sesmon iam-policy --setup --config CONFIG"
_UNREACHABLE: Final = (EndpointConnectionError, ConnectTimeoutError, ConnectionClosedError, ReadTimeoutError)


def code(exc: ClientError) -> str:
    """The AWS error code of a refused call."""
    return str(exc.response.get("Error", {}).get("Code", ""))


def denied(exc: Exception) -> bool:
    """True when AWS refused the call for lack of permission."""
    if not isinstance(exc, ClientError):
        return False
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return code(exc) in DENIED_CODES or status == 403


def why(exc: Exception) -> str:
    """The error as AWS or botocore put it: ``Code: message``."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', 'error')}: {error.get('Message', '')}".strip().rstrip(":")
    return f"{type(exc).__name__}: {exc}"


def explain(exc: ClientError | BotoCoreError, policy_command: str) -> tuple[str, str]:
    """``(problem, fix)`` of a failed call; a missing permission's fix points at ``policy_command``
    (the `sesmon iam-policy` invocation that prints the policy granting it)."""
    if isinstance(exc, NoCredentialsError):
        return NO_CREDENTIALS, CREDENTIALS_FIX_ELSEWHERE
    if isinstance(exc, PartialCredentialsError):
        return f"incomplete AWS credentials: {exc}", CREDENTIALS_FIX_ELSEWHERE
    if isinstance(exc, _UNREACHABLE):
        return f"cannot reach AWS: {exc}", UNREACHABLE_FIX
    if isinstance(exc, ClientError):
        if code(exc) in REJECTED_CODES:
            return f"AWS rejected the credentials: {why(exc)}", REJECTED_FIX
        if denied(exc):
            action = action_of(exc.operation_name) or exc.operation_name
            return f"AWS denied {action}: {why(exc)}", f"grant {action}: {policy_command} prints the policy"
    return why(exc), ""


def one_line(exc: Exception, policy_command: str) -> str:
    """The failure as a command prints it: ``problem; fix`` for AWS's, ``Type: message`` for others."""
    if not isinstance(exc, ClientError | BotoCoreError):
        return why(exc)
    problem, fix = explain(exc, policy_command)
    return f"{problem}; {fix}" if fix else problem
