"""``/v1/images/variations`` through the official OpenAI Python SDK (``client.images.create_variation``).

The simulator answers ``sim-image``, the fake OpenAI ``fake-image`` (passed through as
``image-upstream``), and the vLLM pool serves no images. Prices are in ``tests/conftest.py``: a
256x256 image is $0.016, a 1024x1024 standard one $0.04, and a model makes at most 4 a request.
"""

from __future__ import annotations

import base64
import io
from pathlib import Path

import openai
import pytest
from PIL import Image

from tests.fakes.openai_server import FakeOpenAI
from tests.support.usage_events import wait_for_event

Fake = tuple[FakeOpenAI, str]
# The SDK marks the endpoint deprecated (OpenAI serves it with DALL·E 2 only); clients still call it.
pytestmark = pytest.mark.filterwarnings("ignore:deprecated:DeprecationWarning")


@pytest.fixture
def client(gateway_url: str, api_key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway_url}/v1", api_key=api_key, max_retries=0)


@pytest.fixture
def database(gateway_workdir: Path) -> Path:
    return gateway_workdir / "tollgate.db"


def png(colour: tuple[int, int, int], side: int = 64) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (side, side), colour).save(buffer, format="PNG")
    return buffer.getvalue()


def picture(encoded: str) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(encoded)))


def test_simulated_variations_are_pngs_of_the_size_asked_priced_per_image(
    client: openai.OpenAI, database: Path
) -> None:
    source = png((10, 200, 30))
    raw = client.images.with_raw_response.create_variation(
        model="sim-image", image=("in.png", source, "image/png"), n=2, size="256x256"
    )
    images = raw.parse()
    assert images.data is not None and len(images.data) == 2
    drawn = [picture(image.b64_json or "") for image in images.data]
    assert [(p.format, p.size) for p in drawn] == [("PNG", (256, 256))] * 2
    assert drawn[0].tobytes() != drawn[1].tobytes()  # two variations, not one twice
    assert all(image.revised_prompt is None for image in images.data)  # there was no prompt to revise
    assert raw.headers["x-tollgate-cost-usd"] == "0.032000"  # 2 × $0.016
    assert raw.headers["x-tollgate-backend"] == "sim"
    event = wait_for_event(database, raw.headers["x-request-id"])
    assert (event["endpoint"], event["images"], event["cost_micros"], event["outcome"]) == (
        "images/variations",
        2,
        32_000,
        "ok",
    )


def test_a_variation_depends_on_the_upload_and_only_on_it(client: openai.OpenAI) -> None:
    def vary(source: bytes) -> bytes:
        images = client.images.create_variation(
            model="sim-image", image=("in.png", source, "image/png"), size="256x256"
        )
        return picture((images.data or [])[0].b64_json or "").tobytes()

    green, red = png((10, 200, 30)), png((200, 10, 30))
    assert vary(green) == vary(green)
    assert vary(green) != vary(red)


def test_a_variation_as_url_is_a_data_url_of_the_default_size(client: openai.OpenAI) -> None:
    images = client.images.create_variation(model="sim-image", image=png((1, 2, 3)), response_format="url")
    prefix, _, encoded = ((images.data or [])[0].url or "").partition(",")
    assert prefix == "data:image/png;base64"
    assert picture(encoded).size == (1024, 1024)  # no size: OpenAI's default


def test_the_provider_gets_the_form_as_sent_with_its_model_name(
    client: openai.OpenAI, fake_openai: Fake, database: Path
) -> None:
    source = png((90, 90, 200))
    raw = client.images.with_raw_response.create_variation(
        model="fake-image",
        image=("photo.png", source, "image/png"),
        n=3,
        size="256x256",
        response_format="url",
        user="end-user-42",
    )
    assert [image.url for image in raw.parse().data or []] == [
        f"https://fake-openai.test/images/img-{i}.png" for i in range(3)
    ]
    form = fake_openai[0].state.forms[-1]
    assert form["path"] == "/v1/images/variations"
    assert {name: values for name, values in form["fields"].items()} == {
        "model": ["image-upstream"],
        "n": ["3"],
        "size": ["256x256"],
        "response_format": ["url"],
        "user": ["end-user-42"],
    }
    assert form["files"] == {"image": [("photo.png", "image/png", source)]}  # byte for byte
    assert raw.headers["x-tollgate-cost-usd"] == "0.048000"  # 3 × $0.016
    assert wait_for_event(database, raw.headers["x-request-id"])["images"] == 3


@pytest.mark.parametrize(
    ("model", "options", "status", "code"),
    [
        ("sim-image", {"size": "512x512"}, 400, "unsupported_size"),  # not in the model's price table
        ("sim-image", {"n": 5}, 400, None),  # the model makes at most 4
        ("sim-image", {"size": "big"}, 400, None),
        ("vllm-image", {}, 400, "unsupported_operation"),  # vLLM draws no images
        ("no-such-model", {}, 404, "model_not_found"),
    ],
)
def test_refusals_are_openai_errors(
    client: openai.OpenAI, model: str, options: dict[str, object], status: int, code: str | None
) -> None:
    with pytest.raises(openai.APIStatusError) as caught:
        client.images.create_variation(model=model, image=png((5, 5, 5)), **options)  # type: ignore[arg-type]
    assert caught.value.status_code == status
    if code is not None:
        assert caught.value.code == code


def test_a_file_that_is_not_an_image_is_refused_and_costs_nothing(client: openai.OpenAI, database: Path) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.images.create_variation(model="sim-image", image=("notes.png", b"not an image", "image/png"))
    assert caught.value.code == "invalid_image_format" and caught.value.param == "image"
    event = wait_for_event(database, caught.value.response.headers["x-request-id"])
    assert (event["outcome"], event["cost_micros"]) == ("invalid_request", 0)


def test_an_upstream_failure_reaches_the_sdk_and_costs_nothing(client: openai.OpenAI, database: Path) -> None:
    with pytest.raises(openai.InternalServerError) as caught:
        client.images.create_variation(model="fake-image", image=png((5, 5, 5)), user="trigger:status:500")
    event = wait_for_event(database, caught.value.response.headers["x-request-id"])
    assert (event["endpoint"], event["outcome"], event["cost_micros"]) == ("images/variations", "upstream_error", 0)


def test_a_variation_without_a_model_is_a_400_naming_it(gateway_url: str, api_key: str) -> None:
    """The SDK sends no model when none is given; the gateway needs one to route."""
    client = openai.OpenAI(base_url=f"{gateway_url}/v1", api_key=api_key, max_retries=0)
    with pytest.raises(openai.BadRequestError) as caught:
        client.images.create_variation(image=png((5, 5, 5)))
    assert caught.value.param == "model"
