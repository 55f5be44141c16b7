"""AWS Bedrock over HTTP: Converse, ConverseStream and InvokeModel (embeddings).

A key with `bedrock_key_config.access_key`/`secret_key` (and `session_token`) is signed with SigV4 by botocore
(`SigV4Auth` on an `AWSRequest`): one signer per key, built once; the signature covers the body and the time,
so it is made per request. A key whose `value` is a Bedrock API key is sent as ``Authorization: Bearer``. The
region (`bedrock_key_config.region`, else `meta_config.region`, else us-east-1) picks
``https://bedrock-runtime.{region}.amazonaws.com`` unless `network_config.base_url` is set. Streams arrive as
AWS event-stream frames and are decoded by botocore's `EventStreamBuffer`. The model id goes in the URL
(percent-encoded, so ARNs and ids with ':' work); a key's `deployments` map model names to model ids
or inference-profile ARNs.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import quote

import aiohttp
import orjson
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.eventstream import EventStreamBuffer, EventStreamMessage, ParserError
from multidict import CIMultiDictProxy

from bifrost.config.key_configs import BEDROCK_REGION
from bifrost.config.model import ClientConfig, KeyConfig, ProviderConfig
from bifrost.core.context import RequestContext
from bifrost.core.errors import GatewayError, bad_request
from bifrost.providers.base import ChatStream, Provider, StreamEvent, encode_request
from bifrost.providers.bedrock.translate import (
    ConverseStreamTranslator,
    cohere_request,
    converse_to_openai_response,
    embedding_inputs,
    is_cohere_model,
    openai_to_converse_request,
    titan_request,
)
from bifrost.providers.canonical import TranslationError, count, embeddings_list
from bifrost.providers.sse import iter_chunks

SERVICE = "bedrock"
# ConverseStream exception types -> the status a client should see
_EXCEPTION_STATUS = {
    "throttlingException": 429,
    "serviceUnavailableException": 503,
    "modelStreamErrorException": 502,
    "internalServerException": 500,
    "validationException": 400,
    "modelTimeoutException": 504,
}


class BedrockProvider(Provider):
    wire = "bedrock"

    def __init__(self, config: ProviderConfig, client: ClientConfig) -> None:
        super().__init__(config, client)
        self._signers: dict[str, SigV4Auth] = {}  # key name -> its signer (keys with AWS credentials)
        self._endpoints: dict[str | None, str] = {None: self._endpoint(config.meta_config.get("region"))}
        for key in config.keys:
            settings = key.settings
            region = settings.get("region") or config.meta_config.get("region") or BEDROCK_REGION
            self._endpoints[key.name] = self._endpoint(region)
            if settings.get("access_key"):
                credentials = Credentials(settings["access_key"], settings["secret_key"], settings.get("session_token"))
                self._signers[key.name] = SigV4Auth(credentials, SERVICE, region)

    def _endpoint(self, region: str | None) -> str:
        return self.base_url or f"https://bedrock-runtime.{region or BEDROCK_REGION}.amazonaws.com"

    def _secrets(self, key: KeyConfig | None) -> tuple[str, ...]:
        if key is None:
            return ()
        settings = key.settings
        return tuple(s for s in (settings.get("secret_key"), settings.get("session_token"), key.value) if s)

    def _request(
        self, key: KeyConfig | None, model: str, action: str, payload: bytes, ctx: RequestContext
    ) -> tuple[str, dict[str, str]]:
        """The URL and the headers of one call: signed with SigV4, or with a Bedrock API key as bearer token."""
        name = key.name if key is not None else None
        model_id = (key.settings.get("deployments") or {}).get(model, model) if key is not None else model
        url = f"{self._endpoints.get(name) or self._endpoints[None]}/model/{quote(model_id, safe='')}/{action}"
        signer = self._signers.get(name) if name is not None and ctx.direct_key is None else None
        if signer is None:
            secret = ctx.direct_key or (key.value if key is not None else None)
            if not secret:
                raise GatewayError(
                    401,
                    f"provider {self.name} needs credentials: a bedrock_key_config with access_key and "
                    "secret_key, or a Bedrock API key as the key's value",
                    provider=self.name,
                    code="missing_credentials",
                )
            return url, self.headers({"Authorization": f"Bearer {secret}"}, ctx)
        request = AWSRequest(method="POST", url=url, data=payload, headers=self.headers({}, ctx))
        signer.add_auth(request)  # the signature covers the body and the time: made per request
        return url, dict(request.headers.items())

    def error_from(
        self, status: int, data: bytes, headers: CIMultiDictProxy[str] | dict[str, str], key: KeyConfig | None
    ) -> GatewayError:
        error = super().error_from(status, data, headers, key)
        for secret in self._secrets(key):
            error.message = error.message.replace(secret, "***")
        return error

    # -- chat --------------------------------------------------------------------------------------
    async def chat(
        self, body: dict[str, Any], model: str, key: KeyConfig | None, ctx: RequestContext
    ) -> dict[str, Any] | ChatStream:
        try:
            request = openai_to_converse_request(body)
        except TranslationError as exc:
            raise bad_request(str(exc), param=exc.param) from None
        payload = encode_request(request)
        rid = "chatcmpl-" + uuid.uuid4().hex
        if not ctx.stream:
            url, headers = self._request(key, model, "converse", payload, ctx)
            return converse_to_openai_response(await self.post_json(url, payload, headers, key), model, rid)
        url, headers = self._request(key, model, "converse-stream", payload, ctx)
        options = body.get("stream_options")
        include_usage = isinstance(options, dict) and options.get("include_usage") is True
        translator = ConverseStreamTranslator(model, rid, include_usage)

        def events(resp: aiohttp.ClientResponse) -> AsyncIterator[StreamEvent]:
            return self._events(resp, translator)

        stream = await self.stream_from(url, payload, headers, key, model, events)
        stream.usage = translator.usage
        return stream

    async def _events(
        self, resp: aiohttp.ClientResponse, translator: ConverseStreamTranslator
    ) -> AsyncIterator[StreamEvent]:
        buffer = EventStreamBuffer()
        try:
            async for data in iter_chunks(resp, self.name, self.idle_timeout):
                buffer.add_data(data)
                for message in self._frames(buffer):
                    headers = message.headers
                    if headers.get(":message-type") != "event":
                        kind = str(headers.get(":exception-type") or headers.get(":error-code") or "error")
                        detail = self._frame_message(message.payload) or kind
                        raise GatewayError(_EXCEPTION_STATUS.get(kind, 502), detail, provider=self.name, type=kind)
                    event = self.parse_json(message.payload or b"{}", "a stream event")
                    for chunk in translator.feed(str(headers.get(":event-type") or ""), event):
                        yield chunk, b"data: " + orjson.dumps(chunk) + b"\n\n"
                    if translator.done:
                        return
            raise GatewayError(502, f"{self.name} ended the stream before its metadata event", provider=self.name)
        finally:
            resp.release()

    def _frames(self, buffer: EventStreamBuffer) -> Iterator[EventStreamMessage]:
        """The complete frames in the buffer, one by one (those before a broken frame are delivered)."""
        frames = iter(buffer)
        while True:
            try:
                yield next(frames)
            except StopIteration:
                return
            except ParserError as exc:
                raise GatewayError(
                    502, f"{self.name} sent a broken event-stream frame: {type(exc).__name__}", provider=self.name
                ) from None

    @staticmethod
    def _frame_message(payload: bytes) -> str | None:
        try:
            obj = orjson.loads(payload)
        except orjson.JSONDecodeError:
            return None
        return str(obj.get("message") or obj.get("Message") or "") or None if isinstance(obj, dict) else None

    # -- embeddings (InvokeModel) --------------------------------------------------------------------
    async def embeddings(
        self, body: dict[str, Any], model: str, key: KeyConfig | None, ctx: RequestContext
    ) -> dict[str, Any]:
        try:
            texts = embedding_inputs(body)
        except TranslationError as exc:
            raise bad_request(str(exc), param=exc.param) from None
        model_id = (key.settings.get("deployments") or {}).get(model, model) if key is not None else model
        if is_cohere_model(model_id):
            answer = await self._invoke(key, model, cohere_request(texts, body), ctx)
            vectors = answer.get("embeddings")
            if isinstance(vectors, dict):
                vectors = vectors.get("float")
            tokens = sum(len(t) for t in texts) // 4  # Cohere on Bedrock reports no token count
            return embeddings_list(list(vectors or ()), tokens, model, body.get("encoding_format"))
        answers = await asyncio.gather(*(self._invoke(key, model, titan_request(t, body), ctx) for t in texts))
        vectors = [a.get("embedding") or [] for a in answers]
        tokens = sum(count(a.get("inputTextTokenCount")) for a in answers)
        return embeddings_list(vectors, tokens, model, body.get("encoding_format"))

    async def _invoke(
        self, key: KeyConfig | None, model: str, request: dict[str, Any], ctx: RequestContext
    ) -> dict[str, Any]:
        payload = encode_request(request)
        url, headers = self._request(key, model, "invoke", payload, ctx)
        return await self.post_json(url, payload, headers, key)

