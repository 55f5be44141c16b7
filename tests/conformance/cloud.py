"""The gateway config and upstream checks for the cloud-provider columns (Azure, Bedrock, Vertex, Cohere).

Every secret here is a throwaway made for the tests: the Vertex service account's RSA key is generated
once per process, and its ``token_uri`` points at the fake provider's token endpoint.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

AZURE_KEY = "az-test-key-0001"
AZURE_VERSION = "2024-10-21"
AZURE_DEPLOYMENT = "gpt4o-prod"
AWS_ACCESS = "AKIDFAKETEST0001"
AWS_SECRET = "aws-secret-test-0001"
AWS_TOKEN = "aws-session-token-0001"
AWS_REGION = "us-west-2"
BEDROCK_MODEL_ID = "anthropic.claude-3-5-sonnet-20241022-v2:0"
COHERE_KEY = "co-test-key-0001"
VERTEX_PROJECT = "proj-test"
VERTEX_REGION = "us-east5"
SECRETS = (AZURE_KEY, AWS_SECRET, AWS_TOKEN, COHERE_KEY)

AZURE_MODEL = "azure/gpt-4o"
BEDROCK_MODEL = "bedrock/claude-sonnet"
VERTEX_MODEL = "vertex/claude-3-5-sonnet-v2@20241022"
COHERE_MODEL = "cohere/command-r-plus"

SIGV4 = re.compile(
    rf"AWS4-HMAC-SHA256 Credential={AWS_ACCESS}/\d{{8}}/{AWS_REGION}/bedrock/aws4_request, "
    r"SignedHeaders=([a-z0-9;-]+), Signature=[0-9a-f]{64}"
)


@functools.cache
def private_key_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def service_account(fake_url: str) -> dict[str, Any]:
    return {
        "type": "service_account",
        "project_id": VERTEX_PROJECT,
        "private_key_id": "fake-key-id",
        "private_key": private_key_pem(),
        "client_email": "bifrost-test@proj-test.iam.gserviceaccount.com",
        "client_id": "1",
        "token_uri": fake_url + "/token",
    }


def cloud_providers(fake_url: str) -> dict[str, Any]:
    network = {"retry_backoff_initial_ms": 10, "retry_backoff_max_ms": 50}
    return {
        "azure": {
            "keys": [
                {
                    "name": "az",
                    "value": AZURE_KEY,
                    "models": ["gpt-4o", "gpt-35-turbo-instruct", "text-embedding-3-small"],
                    "azure_key_config": {
                        "endpoint": fake_url,
                        "api_version": AZURE_VERSION,
                        "deployments": {"gpt-4o": AZURE_DEPLOYMENT},
                    },
                }
            ],
            "network_config": network,
        },
        "bedrock": {
            "keys": [
                {
                    "name": "aws",
                    "bedrock_key_config": {
                        "access_key": AWS_ACCESS,
                        "secret_key": AWS_SECRET,
                        "session_token": AWS_TOKEN,
                        "region": AWS_REGION,
                        "deployments": {
                            "claude-sonnet": BEDROCK_MODEL_ID,
                            "titan-embed": "amazon.titan-embed-text-v2:0",
                            "cohere-embed": "cohere.embed-english-v3",
                        },
                    },
                }
            ],
            "network_config": {**network, "base_url": fake_url},
        },
        "vertex": {
            "keys": [
                {
                    "name": "gcp",
                    "vertex_key_config": {
                        "project_id": VERTEX_PROJECT,
                        "region": VERTEX_REGION,
                        "auth_credentials": json.dumps(service_account(fake_url)),
                    },
                }
            ],
            "network_config": {**network, "base_url": fake_url},
        },
        "cohere": {
            "keys": [{"name": "co", "value": COHERE_KEY, "models": ["command-r-plus", "embed-english-v3.0"]}],
            "network_config": {**network, "base_url": fake_url},
        },
    }


def check_azure(req: Mapping[str, Any], deployment: str = AZURE_DEPLOYMENT, op: str = "chat/completions") -> Any:
    assert req["path"] == f"/openai/deployments/{deployment}/{op}", req["path"]
    assert req["query"] == {"api-version": AZURE_VERSION}
    assert req["headers"]["api-key"] == AZURE_KEY
    assert "authorization" not in req["headers"]
    return req["body"]


def check_bedrock(req: Mapping[str, Any], action: str = "converse", model_id: str = BEDROCK_MODEL_ID) -> Any:
    assert req["path"] == f"/model/{model_id}/{action}", req["path"]
    headers = req["headers"]
    match = SIGV4.fullmatch(headers["authorization"])
    assert match is not None, headers["authorization"]
    signed = match.group(1).split(";")
    assert {"host", "x-amz-date", "x-amz-security-token", "content-type"} <= set(signed), signed
    assert headers["x-amz-security-token"] == AWS_TOKEN
    assert re.fullmatch(r"\d{8}T\d{6}Z", headers["x-amz-date"])
    assert AWS_SECRET not in json.dumps(headers)
    return req["body"]


def check_vertex(req: Mapping[str, Any], action: str = "rawPredict") -> Any:
    model = VERTEX_MODEL.split("/", 1)[1]
    expected = (
        f"/v1/projects/{VERTEX_PROJECT}/locations/{VERTEX_REGION}/publishers/anthropic/models/{model}:{action}"
    )
    assert req["path"] == expected, req["path"]
    assert req["headers"]["authorization"].startswith("Bearer ya29.fake-")
    body = req["body"]
    assert body["anthropic_version"] == "vertex-2023-10-16" and "model" not in body
    return body


def check_cohere(req: Mapping[str, Any], path: str = "/v2/chat") -> Any:
    assert req["path"] == path, req["path"]
    assert req["headers"]["authorization"] == f"Bearer {COHERE_KEY}"
    return req["body"]


def calls(fake: Any) -> list[dict[str, Any]]:
    """The provider calls the fake received, without Vertex's token requests (a gateway with a vertex
    provider fetches its token in the background at start-up, so one may land at any time early on)."""
    return [r for r in fake.control.log() if r["path"] != "/token"]


def last_call(fake: Any) -> dict[str, Any]:
    found = calls(fake)
    assert found, "the fake provider received no provider call"
    return found[-1]


def no_cloud_secrets(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text, f"a configured secret leaked: {text[:300]}"
