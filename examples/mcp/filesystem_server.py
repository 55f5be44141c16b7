"""A small read-only filesystem MCP server, for the README's MCP example (and the MCP benchmark).

    python examples/mcp/filesystem_server.py --root .        # speaks MCP over stdio

Written with the official `mcp` SDK (`MCPServer`, called FastMCP in mcp 1.x). Any other MCP server works
the same way, e.g. the reference one:
{"command": "npx", "args": ["-y", "@modelcontextprotocol/server-filesystem", "."]}.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from mcp.server.mcpserver import MCPServer


def build_server(root: Path, name: str = "filesystem") -> MCPServer:
    """The server with its two tools, reading below `root` only."""
    root = root.resolve()
    server = MCPServer(name, log_level="WARNING")

    def inside(path: str) -> Path:
        target = (root / path).resolve()
        if root != target and root not in target.parents:
            raise ValueError(f"{path} is outside {root}")
        return target

    @server.tool()
    def read_file(path: str) -> str:
        """Read a UTF-8 text file, given its path relative to the served directory."""
        return inside(path).read_text(encoding="utf-8")

    @server.tool()
    def list_directory(path: str = ".") -> str:
        """List a directory of the served directory, one entry per line (directories end with /)."""
        return "\n".join(p.name + ("/" if p.is_dir() else "") for p in sorted(inside(path).iterdir()))

    return server


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--root", default=".", help="the directory the tools may read (default: the current one)")
    build_server(Path(parser.parse_args().root)).run()
