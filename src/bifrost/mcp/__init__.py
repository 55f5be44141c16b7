"""MCP: tools of MCP servers in every chat request, run by the gateway, and served as one MCP server.

- `config`: the `mcp` section of config.json (no SDK import: a gateway without MCP never loads the SDK).
- `naming`: `CLIENT-TOOL` names that every provider accepts, shortened and de-duplicated deterministically.
- `manager`: connections (official `mcp` SDK; stdio, streamable HTTP, SSE) kept up in the background, the
  tool registry, and tool execution with timeout, metrics and logs.
- `inject`: the one function that adds the allowed MCP tools to a canonical chat request.
- `agent`: agent mode, the gateway running `tools_to_auto_execute` tools and calling the model again.
- `server`: server mode, the connected tools as one streamable-HTTP MCP server at `/mcp`.
"""
