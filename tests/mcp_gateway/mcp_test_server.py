"""A filesystem-style MCP server for the tests, written with the SDK's MCPServer (FastMCP in mcp 1.x).

``python mcp_test_server.py --root DIR`` serves over stdio; add ``--http PORT`` for streamable HTTP.
Tools: read_file, list_directory (the guide's filesystem example), slow, fail, add_tool (adds
``extra`` and announces tools/list_changed) and die (the process exits mid-call).
"""

from __future__ import annotations

import argparse
import asyncio
import os
from pathlib import Path

from mcp.server.mcpserver import Context, MCPServer

parser = argparse.ArgumentParser()
parser.add_argument("--root", default=".")
parser.add_argument("--http", type=int, default=0)
parser.add_argument("--name", default="files")
parser.add_argument("--quiet-changes", action="store_true", help="add_tool announces nothing")
opts = parser.parse_args()
ROOT = Path(opts.root).resolve()

server = MCPServer(opts.name, log_level="WARNING")


def _inside(path: str) -> Path:
    target = (ROOT / path).resolve()
    if ROOT not in (target, *target.parents):
        raise ValueError(f"{path} is outside the served directory")
    return target


@server.tool()
def read_file(path: str) -> str:
    """Read a text file of the served directory."""
    return _inside(path).read_text(encoding="utf-8")


@server.tool()
def list_directory(path: str = ".") -> str:
    """List the entries of a directory of the served directory."""
    return "\n".join(sorted(p.name for p in _inside(path).iterdir()))


@server.tool()
async def slow(seconds: float) -> str:
    """Sleep, then answer."""
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
    if opts.http:
        server.run("streamable-http", host="127.0.0.1", port=opts.http)
    else:
        server.run()
