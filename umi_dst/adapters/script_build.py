"""How an exported script builds a store whose own builder needs umi-dst's code.

A declaration's ``build`` may lean on the project (``mem0-pgvector`` and ``langchain-postgres``
make their store on umi-dst's embedded PostgreSQL server), and then ``export.function_source``
cannot write it into a script. ``ScriptBuild`` says what the script does instead, with the
integration's API only: its ``build`` takes the script's first command-line argument (a
server's URL) in place of the working directory, and its ``close`` runs at the end of the run,
pass or fail, so the script leaves the server as it found it. Both are written into the script,
so they follow ``function_source``'s rules (imports of the integration, literals, functions of
their own module).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class ScriptBuild:
    """The store as a script builds it: ``build(argument, dim)`` for mem0,
    ``build(argument, embeddings)`` for LangChain, where ``argument`` is the script's first
    command-line argument, or the run's working directory if ``argument`` is None."""

    build: Callable
    argument: str | None = None
    """What the script's command line takes, as its usage shows it (``postgresql://...``)."""
    needs: str | None = None
    """What the script needs beside the packages (``a PostgreSQL server with pgvector``)."""
    close: Callable | None = None
    """``close(store)`` once the run is over: drops what ``build`` made."""
