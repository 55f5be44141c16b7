"""One error type for the whole gateway; each route renders it in its own wire shape."""

from __future__ import annotations

from typing import Any

# status -> (OpenAI error type, code) used when the raiser does not say otherwise (CONTRACT §6)
_DEFAULTS: dict[int, tuple[str, str | None]] = {
    400: ("invalid_request_error", None),
    401: ("authentication_error", "invalid_api_key"),
    402: ("budget_exceeded", "budget_exceeded"),
    403: ("permission_error", None),
    404: ("invalid_request_error", "model_not_found"),
    405: ("invalid_request_error", "method_not_allowed"),
    408: ("timeout", "timeout"),
    413: ("invalid_request_error", "request_too_large"),
    422: ("invalid_request_error", None),
    429: ("rate_limit_exceeded", "rate_limit_exceeded"),
    499: ("client_closed", "client_closed"),
    500: ("api_error", "internal_error"),
    502: ("upstream_error", "upstream_error"),
    503: ("service_unavailable", "service_unavailable"),
    504: ("timeout", "timeout"),
    529: ("overloaded_error", "overloaded"),
}

# Statuses worth another try (CONTRACT §4); 401/403 are retried only with another key.
RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504, 529})
# Failures the client must fix: no retry, no fallback.
CLIENT_ERROR_STATUSES = frozenset({400, 413, 422})


class GatewayError(Exception):
    """A failure with an HTTP status, rendered as an OpenAI / Anthropic / Google error body."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str | None = None,
        code: str | None = None,
        param: str | None = None,
        provider: str | None = None,
        retry_after: float | None = None,
        retryable: bool | None = None,
    ) -> None:
        super().__init__(message)
        default_type, default_code = _DEFAULTS.get(
            status, ("api_error" if status >= 500 else "invalid_request_error", None)
        )
        self.status = status
        self.message = message
        self.type = type or default_type
        self.code = code if code is not None else default_code
        self.param = param
        self.provider = provider
        self.retry_after = retry_after
        self.retryable = status in RETRYABLE_STATUSES if retryable is None else retryable

    @property
    def client_must_fix(self) -> bool:
        return self.status in CLIENT_ERROR_STATUSES

    def openai_error(self) -> dict[str, Any]:
        return {"message": self.message, "type": self.type, "param": self.param, "code": self.code}

    def __repr__(self) -> str:
        return (
            f"GatewayError({self.status}, {self.message!r}, type={self.type!r}, provider={self.provider!r})"
        )


def bad_request(message: str, param: str | None = None, code: str | None = None) -> GatewayError:
    return GatewayError(400, message, param=param, code=code)


def upstream_garbage(provider: str, detail: str) -> GatewayError:
    return GatewayError(
        502, f"{provider} returned a response the gateway could not read ({detail})", provider=provider
    )


def upstream_timeout(provider: str, seconds: float) -> GatewayError:
    return GatewayError(
        504,
        f"{provider} did not answer within {seconds:g}s "
        f"(raise providers.{provider}.network_config.default_request_timeout_in_seconds if this is expected)",
        provider=provider,
    )


def upstream_unreachable(provider: str, detail: str) -> GatewayError:
    return GatewayError(
        502,
        f"could not reach {provider}: {detail}",
        provider=provider,
        code="upstream_connect_error",
        retryable=True,
    )
