"""Every other OpenAI endpoint passed through (audio, images, moderations, files, batches) with the official
openai SDK, asserted at the fake; unknown paths answer a 404 that lists the real prefixes."""

from __future__ import annotations

import hashlib
import io
import json
import urllib.parse
from collections.abc import Iterator

import openai
import pytest

from bifrost.testing.fake_provider import FakeProvider
from bifrost.testing.fake_provider.media_wire import speech_bytes
from harness import GatewayFactory, GatewayProcess, http_get

from .helpers import client, post_raw, responses_config


@pytest.fixture(scope="module")
def gateway(fake_server: FakeProvider, start_module_gateway: GatewayFactory) -> Iterator[GatewayProcess]:
    yield start_module_gateway(responses_config(fake_server.url, extra_models=["tts-1", "whisper-1", "dall-e-3"]))


@pytest.mark.parametrize("base", ["v1", "openai/v1", "openai"])
def test_speech_bytes_are_identical(gateway: GatewayProcess, fake: FakeProvider, base: str) -> None:
    audio = client(gateway, base).audio.speech.create(model="tts-1", voice="alloy", input="Hello there")
    assert audio.content == speech_bytes("Hello there")
    assert audio.response.headers["content-type"] == "audio/mpeg"
    assert audio.response.headers["x-bifrost-provider"] == "openai"
    received = fake.control.last()
    assert received["path"] == "/v1/audio/speech" and received["key"] == "sk-test-main"
    assert received["body"] == {"model": "tts-1", "voice": "alloy", "input": "Hello there"}


def test_transcription_multipart_upload(gateway: GatewayProcess, fake: FakeProvider) -> None:
    data = bytes(range(256)) * 400  # 100 kB of "audio"
    result = client(gateway).audio.transcriptions.create(model="whisper-1", file=("talk.mp3", io.BytesIO(data)))
    assert result.text == f"{len(data)} bytes of talk.mp3 heard by whisper-1"
    received = fake.control.last()
    assert received["path"] == "/v1/audio/transcriptions"
    assert received["body"]["model"] == "whisper-1"
    assert received["body"]["_files"]["file"] == {
        "filename": "talk.mp3", "size": len(data), "sha256": hashlib.sha256(data).hexdigest()
    }


def test_multipart_provider_prefix_is_removed(gateway: GatewayProcess, fake: FakeProvider) -> None:
    result = client(gateway).audio.translations.create(model="openai/whisper-1", file=("a.wav", b"RIFF1234"))
    assert result.text == "8 bytes of a.wav heard by whisper-1"
    assert fake.control.last()["body"]["model"] == "whisper-1"


def test_image_generation(gateway: GatewayProcess, fake: FakeProvider) -> None:
    images = client(gateway).images.generate(model="dall-e-3", prompt="a red fox", n=1)
    assert images.data is not None and images.data[0].revised_prompt == "a red fox"
    received = fake.control.last()
    assert received["path"] == "/v1/images/generations"
    assert received["body"] == {"model": "dall-e-3", "prompt": "a red fox", "n": 1}


def test_moderation(gateway: GatewayProcess, fake: FakeProvider) -> None:
    result = client(gateway).moderations.create(input="I will kill the process")
    assert result.results[0].flagged is True
    assert fake.control.last()["path"] == "/v1/moderations"


def test_file_upload_batch_create_and_retrieve(gateway: GatewayProcess, fake: FakeProvider) -> None:
    sdk = client(gateway)
    line = json.dumps({"custom_id": "1", "method": "POST", "url": "/v1/chat/completions",
                       "body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}})
    uploaded = sdk.files.create(file=("batch.jsonl", line.encode()), purpose="batch")
    assert uploaded.filename == "batch.jsonl" and uploaded.bytes == len(line)
    assert sdk.files.retrieve(uploaded.id).id == uploaded.id
    assert sdk.files.content(uploaded.id).content == line.encode()
    assert [f.id for f in sdk.files.list()] == [uploaded.id]
    batch = sdk.batches.create(input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h")
    assert batch.status == "validating"
    assert sdk.batches.retrieve(batch.id).input_file_id == uploaded.id
    assert sdk.batches.cancel(batch.id).status == "cancelling"
    assert sdk.files.delete(uploaded.id).deleted is True
    paths = [(r["method"], r["path"]) for r in fake.control.log()]
    assert paths == [
        ("POST", "/v1/files"), ("GET", f"/v1/files/{uploaded.id}"), ("GET", f"/v1/files/{uploaded.id}/content"),
        ("GET", "/v1/files"), ("POST", "/v1/batches"), ("GET", f"/v1/batches/{batch.id}"),
        ("POST", f"/v1/batches/{batch.id}/cancel"), ("DELETE", f"/v1/files/{uploaded.id}"),
    ]
    assert {r["key"] for r in fake.control.log()} <= {"sk-test-main", "sk-test-spare"}


def test_x_bf_provider_chooses_the_provider_without_a_model(gateway: GatewayProcess, fake: FakeProvider) -> None:
    sdk = client(gateway)
    sdk.files.list(extra_headers={"x-bf-provider": "groq"})
    assert fake.control.last()["key"] == "gsk-test"
    with pytest.raises(openai.BadRequestError) as info:
        sdk.files.list(extra_headers={"x-bf-provider": "nope"})
    assert "nope" in info.value.message and "x-bf-provider" in info.value.message


def test_upstream_error_keeps_status_and_message(gateway: GatewayProcess, fake: FakeProvider) -> None:
    with pytest.raises(openai.NotFoundError) as info:
        client(gateway).files.retrieve("file-missing")
    assert "file-missing" in info.value.message


def test_provider_without_openai_wire_is_a_clear_400(gateway: GatewayProcess, fake: FakeProvider) -> None:
    status, body = post_raw(gateway, "/v1/images/generations",
                            {"model": "anthropic/claude-3-5-sonnet-20241022", "prompt": "x"})
    assert status == 400
    assert "anthropic" in json.loads(body)["error"]["message"]
    assert fake.control.log() == []


@pytest.mark.parametrize(
    "path", ["/v1/no_such_thing", "/openai/v1/foo/bar", "/nowhere", "/v2/chat/completions", "/v1/files/%2E%2E/x"]
)
def test_unknown_paths_answer_404_listing_the_prefixes(gateway: GatewayProcess, fake: FakeProvider, path: str) -> None:
    status, body = http_get(gateway.url + path)
    assert status == 404
    message = json.loads(body)["error"]["message"]
    assert urllib.parse.unquote(path) in message and "/v1, /openai/v1 and /openai" in message
    assert fake.control.log() == []
