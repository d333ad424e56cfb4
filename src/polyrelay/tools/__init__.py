"""Server tools: tools the gateway runs itself when the upstream cannot (web search).

Contract (ARCHITECTURE §4.3). A `ServerTool` is created per request, because it counts its
uses against the request's limits. The tool loop (`polyrelay.tools.loop`) offers the model
`declaration()` as an ordinary function tool, and for every call the model makes to that name:

1. `server_call(call)` gives the block the client sees (a `ServerToolCallPart` with a
   gateway id, e.g. `srvtoolu_…`);
2. `await run(server_call)` runs it and returns the `ServerToolResultPart` the client sees;
   it never raises — failures are the result's `error_code`;
3. `feedback(result)` is the text the model reads as the call's tool result;
4. after the model's answer, `citations(text, results)` says which results a text part cites.

`requests` counts the runs that reached the backend (reported as usage).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from polyrelay.ir import (
    Citation,
    FunctionTool,
    ServerToolCallPart,
    ServerToolResultPart,
    ToolCallPart,
)

__all__ = ["ServerTool"]


class ServerTool(Protocol):
    name: str

    @property
    def requests(self) -> int: ...

    @property
    def max_rounds(self) -> int:
        """Model calls the loop may make for one answer."""
        ...

    def declaration(self) -> FunctionTool: ...

    def server_call(self, call: ToolCallPart) -> ServerToolCallPart: ...

    async def run(self, call: ServerToolCallPart) -> ServerToolResultPart: ...

    def feedback(self, result: ServerToolResultPart) -> str: ...

    def citations(
        self, text: str, results: Sequence[ServerToolResultPart]
    ) -> tuple[Citation, ...]: ...
