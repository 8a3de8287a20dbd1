"""Preloaded by the forkserver that starts the Lance nemeses' helper processes.

Importing lancedb takes seconds (most of it validating the REST namespace client's API
models), and a helper would pay that at every start under ``spawn``. The forkserver pays it
once per process; each helper is then forked from it ready to use. The server only imports
lancedb and never opens a connection, so no Lance runtime is mid-operation when it forks:
lancedb resets its event loop and runtime in each child, and its warning about forking in
general does not apply here.
"""

from __future__ import annotations

import warnings

warnings.filterwarnings("ignore", message="lancedb fork support is experimental", category=RuntimeWarning)

import backends.lance.nemeses  # noqa: E402,F401  (the import is this module's purpose)
