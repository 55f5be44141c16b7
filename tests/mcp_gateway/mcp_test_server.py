"""The MCP server of the tests: the example filesystem server (examples/mcp/) plus tools that misbehave.

``python mcp_test_server.py --root DIR`` serves over stdio; add ``--http PORT`` for streamable HTTP
(at /mcp), and also ``--sse`` for the older SSE transport (at /sse).
Tools: read_file, list_directory (the guide's filesystem example), slow, fail, add_tool (adds
``extra`` and announces tools/list_changed, unless ``--quiet-changes``) and die (the process exits
mid-call). ``--started-file PATH``: ``slow`` writes PATH as it starts. Written with the SDK's
MCPServer (FastMCP in mcp 1.x).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
from pathlib import Path

from mcp.server.mcpserver import Context

_EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "mcp" / "filesystem_server.py"
_spec = importlib.util.spec_from_file_location("filesystem_server", _EXAMPLE)
assert _spec is not None and _spec.loader is not None
example = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(example)

parser = argparse.ArgumentParser()
parser.add_argument("--root", default=".")
parser.add_argument("--http", type=int, default=0)
parser.add_argument("--sse", action="store_true", help="with --http: the older SSE transport at /sse")
parser.add_argument("--name", default="files")
parser.add_argument("--quiet-changes", action="store_true", help="add_tool announces nothing")
parser.add_argument("--started-file", default="", help="slow writes this file as it starts (tests wait for it)")
opts = parser.parse_args()

server = example.build_server(Path(opts.root), opts.name)


@server.tool()
async def slow(seconds: float) -> str:
    """Sleep, then answer."""
    if opts.started_file:
        Path(opts.started_file).write_text("started", encoding="utf-8")
    await asyncio.sleep(seconds)
    return f"slept {seconds}"


@server.tool()
def fail() -> str:
    """Always fails."""
    raise ValueError("disk on fire")


@server.tool()
async def add_tool(ctx: Context) -> str:
    """Add the tool `extra` and tell clients the tool list changed."""

    def extra(x: int) -> int:
        """Double a number."""
        return x * 2

    server.add_tool(extra, name="extra")
    if not opts.quiet_changes:
        await ctx.notify_tools_changed()
    return "added"


@server.tool()
def die() -> str:
    """The server process exits in the middle of the call."""
    os._exit(3)


if __name__ == "__main__":
    if opts.http and opts.sse:
        server.run("sse", host="127.0.0.1", port=opts.http)
    elif opts.http:
        server.run("streamable-http", host="127.0.0.1", port=opts.http)
    else:
        server.run()
