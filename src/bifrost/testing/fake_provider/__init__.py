"""A fake upstream LLM provider speaking the OpenAI, Anthropic and Gemini wire formats.

Scriptable per request (replies, tool calls, usage, latency, errors, broken streams) through
the ``x-fake-script`` header or the control API under ``/_fake/``; see ``script.SCRIPT_FIELDS``.
"""

from .app import create_app
from .control import FakeControl
from .server import FakeProvider, main
from .state import FakeState

__all__ = ["FakeControl", "FakeProvider", "FakeState", "create_app", "main"]
