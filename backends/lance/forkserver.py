"""Preloaded by the forkserver that starts the Lance nemeses' helper processes.

Importing lancedb takes seconds (most of it validating the REST namespace client's API
models), and a helper would pay that at every start under ``spawn``. The forkserver pays it
once per process; each helper is then forked from it ready to use. The server only imports
lancedb and never opens a connection, so no Lance runtime is mid-operation when it forks:
lancedb resets its event loop and runtime in each child, and its warning about forking in
general does not apply here.

The forkserver ends when every process it serves is gone (multiprocessing's "alive" pipe), but
it reads that pipe only after this import, which takes seconds; so first it asks the kernel to
end it when the process that started it ends (``lifeline.die_with_parent``). A starter that died
before that request leaves the pipe to end it after the import; one whose starting thread ended
first (the request then fires early) gets a new forkserver from multiprocessing when it next
needs one. Its helpers are forked without the request and hold lifelines of their own.
"""

from __future__ import annotations

import warnings

from umi_dst.campaign import lifeline

lifeline.die_with_parent()
warnings.filterwarnings("ignore", message="lancedb fork support is experimental", category=RuntimeWarning)

import umi_dst.backends.lance.nemeses  # noqa: E402,F401  (the import is this module's purpose)
