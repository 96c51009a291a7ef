"""The Bedrock fake is held to AWS's own client: botocore's bedrock-runtime client (its signer,
serializer, response and event-stream parsers, error parser) talks to it as it would to AWS."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import botocore.session
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, EventStreamError

from tests.fakes import bedrock_server
from tests.fakes.bedrock_server import ACCESS_KEY, MODEL, PROFILE_ARN, REGION, SECRET_KEY, FakeBedrock
from tests.fakes.threaded import serve_in_thread


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeBedrock]:
    fake = FakeBedrock()
    with serve_in_thread(bedrock_server.build_app(fake)) as url:
        fake.endpoint_url = url
        yield fake


def sdk(fake: FakeBedrock, secret: str = SECRET_KEY) -> Any:
    return botocore.session.get_session().create_client(
        "bedrock-runtime",
        region_name=REGION,
        endpoint_url=fake.endpoint_url,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=secret,
        config=Config(retries={"max_attempts": 1}),
    )


def ask(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": [{"text": text}]}]


def test_the_sdk_converses_with_the_fake(fake: FakeBedrock) -> None:
    answer = sdk(fake).converse(
        modelId=PROFILE_ARN,
        messages=ask("hello there"),
        system=[{"text": "Be brief."}],
        inferenceConfig={"maxTokens": 9},
    )
    assert answer["output"]["message"] == {"role": "assistant", "content": [{"text": "echo: hello there"}]}
    assert answer["stopReason"] == "end_turn"
    assert answer["usage"] == {"inputTokens": 4, "outputTokens": 3, "totalTokens": 7}


def test_the_sdk_parses_the_fakes_event_stream(fake: FakeBedrock) -> None:
    tool = {"toolSpec": {"name": "get_weather", "inputSchema": {"json": {"type": "object", "properties": {}}}}}
    answer = sdk(fake).converse_stream(
        modelId=MODEL, messages=ask("weather?"), toolConfig={"tools": [tool], "toolChoice": {"any": {}}}
    )
    events = list(answer["stream"])
    names = [next(iter(event)) for event in events]
    assert names[:3] == ["messageStart", "contentBlockStart", "contentBlockDelta"]
    assert set(names[3:-3]) <= {"contentBlockDelta"}
    assert names[-3:] == ["contentBlockStop", "messageStop", "metadata"]
    assert events[1]["contentBlockStart"]["start"]["toolUse"]["name"] == "get_weather"
    assert events[-2]["messageStop"]["stopReason"] == "tool_use"
    assert events[-1]["metadata"]["usage"]["outputTokens"] > 0


def test_an_exception_frame_is_the_sdks_event_stream_error(fake: FakeBedrock) -> None:
    answer = sdk(fake).converse_stream(modelId=MODEL, messages=ask("[[stream_exception]] hi"))
    with pytest.raises(EventStreamError) as caught:
        list(answer["stream"])
    assert caught.value.response["Error"]["Code"] == "throttlingException"


def test_a_wrong_secret_is_refused_as_aws_refuses_it(fake: FakeBedrock) -> None:
    with pytest.raises(ClientError) as caught:
        sdk(fake, secret="not-the-secret").converse(modelId=MODEL, messages=ask("hi"))
    error = caught.value.response
    assert (error["Error"]["Code"], error["ResponseMetadata"]["HTTPStatusCode"]) == ("InvalidSignatureException", 403)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"messages": ask("hi"), "inferenceConfig": {"topP": 1.5}}, "at 'inferenceConfig.topP'"),
        ({"messages": [{"role": "assistant", "content": [{"text": "hi"}]}]}, "must start with a user message"),
        ({"messages": [*ask("a"), *ask("b")]}, "must alternate"),
        ({"messages": ask(" ")}, "is blank"),
    ],
)
def test_invalid_conversations_are_aws_validation_exceptions(
    fake: FakeBedrock, params: dict[str, Any], message: str
) -> None:
    with pytest.raises(ClientError) as caught:
        sdk(fake).converse(modelId=MODEL, **params)
    assert caught.value.response["Error"]["Code"] == "ValidationException"
    assert message in caught.value.response["Error"]["Message"]
