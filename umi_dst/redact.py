"""Connection strings without their passwords, for everything printed or stored.

A PostgreSQL URL (``postgresql://user:secret@host/db``) or key/value conninfo
(``password=secret``) may reach an error message, a log line or a campaign report; each of those
goes through ``mask_secrets`` first, which replaces the password with ``***``.
"""

from __future__ import annotations

import re

MASK = "***"
_URL_PASSWORD = re.compile(r"(\b[A-Za-z][A-Za-z0-9+.-]*://[^:/@\s'\"]*:)[^\s'\"]*(@)")
_CONNINFO_PASSWORD = re.compile(r"(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s'\"]+)", re.IGNORECASE)


def mask_secrets(text: str) -> str:
    """``text`` with the password of every URL and ``password=`` setting in it masked."""
    return _CONNINFO_PASSWORD.sub(rf"\g<1>{MASK}", _URL_PASSWORD.sub(rf"\g<1>{MASK}\g<2>", text))
