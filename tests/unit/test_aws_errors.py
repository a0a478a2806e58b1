"""A failed AWS call's one line: the problem and the fix, as `setup` and `doctor` print them."""

from __future__ import annotations

import io
from pathlib import Path

from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError

from sesmon.actions.resume import resume
from sesmon.aws_errors import (
    CREDENTIALS_FIX_ELSEWHERE,
    NO_CREDENTIALS,
    REJECTED_FIX,
    UNREACHABLE_FIX,
    explain,
    one_line,
)
from sesmon.config import Config
from sesmon.iam import action_of

POLICY = "sesmon iam-policy --setup --config CONFIG"


def _refused(code: str, operation: str, status: int = 400) -> ClientError:
    response = {
        "Error": {"Code": code, "Message": "not authorized"},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return ClientError(response, operation)  # type: ignore[arg-type]  # the stubs want a TypedDict


def test_a_denied_call_names_the_iam_action_and_the_policy_command() -> None:
    problem, fix = explain(_refused("AccessDenied", "GetQueueUrl", 403), POLICY)
    assert problem == "AWS denied sqs:GetQueueUrl: AccessDenied: not authorized"
    assert fix == f"grant sqs:GetQueueUrl: {POLICY} prints the policy"
    problem, fix = explain(_refused("AccessDeniedException", "CreateConfigurationSet", 403), POLICY)
    assert problem.startswith("AWS denied ses:CreateConfigurationSet: ")
    assert fix.startswith("grant ses:CreateConfigurationSet: ")


def test_an_operation_outside_the_known_actions_is_named_as_aws_named_it() -> None:
    assert action_of("SomethingNew") is None
    assert action_of("GetTopicAttributes") == "sns:GetTopicAttributes"
    problem, _ = explain(_refused("AccessDenied", "SomethingNew", 403), POLICY)
    assert problem == "AWS denied SomethingNew: AccessDenied: not authorized"


def test_credential_failures_say_how_to_give_or_renew_them() -> None:
    assert explain(NoCredentialsError(), POLICY) == (NO_CREDENTIALS, CREDENTIALS_FIX_ELSEWHERE)
    for source in ("AWS_ACCESS_KEY_ID", "AWS_PROFILE", "aws configure", "role", "sesmon doctor"):
        assert source in CREDENTIALS_FIX_ELSEWHERE
    problem, fix = explain(_refused("ExpiredToken", "GetQueueUrl"), POLICY)
    assert problem == "AWS rejected the credentials: ExpiredToken: not authorized"
    assert fix == REJECTED_FIX


def test_an_unreachable_endpoint_says_what_to_check() -> None:
    problem, fix = explain(EndpointConnectionError(endpoint_url="http://127.0.0.1:9/"), POLICY)
    assert problem == 'cannot reach AWS: Could not connect to the endpoint URL: "http://127.0.0.1:9/"'
    assert fix == UNREACHABLE_FIX


def test_any_other_refusal_is_aws_own_words_without_a_guessed_fix() -> None:
    assert explain(_refused("ThrottlingException", "GetQueueUrl"), POLICY) == (
        "ThrottlingException: not authorized",
        "",
    )


def test_one_line_joins_problem_and_fix_and_keeps_other_errors_as_they_are() -> None:
    assert one_line(NoCredentialsError(), POLICY) == f"{NO_CREDENTIALS}; {CREDENTIALS_FIX_ELSEWHERE}"
    assert one_line(_refused("ThrottlingException", "GetQueueUrl"), POLICY) == (
        "ThrottlingException: not authorized"
    )
    assert one_line(ValueError("bad"), POLICY) == "ValueError: bad"


class _Unreachable:
    def apply(self, action: str, target: str, configuration_set: str) -> None:
        raise EndpointConnectionError(endpoint_url="http://127.0.0.1:9/")


def test_resume_after_the_demo_stopped_says_aws_is_unreachable_and_what_to_check(tmp_path: Path) -> None:
    config = Config.model_validate(
        {"targets": [{"name": "demo", "region": "us-east-1"}], "state": {"path": str(tmp_path / "s.db")}}
    )
    err = io.StringIO()
    assert resume(config, "marketing", None, _Unreachable(), err=err, out=io.StringIO()) == 1
    assert err.getvalue() == (
        'sesmon resume: cannot reach AWS: Could not connect to the endpoint URL: "http://127.0.0.1:9/"; '
        f"{UNREACHABLE_FIX}\n"
    )
    assert not (tmp_path / "s.db").exists()  # nothing recorded: the set was not resumed
