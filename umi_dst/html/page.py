"""The shell every HTML page shares: one self-contained file, no network.

Styles, scripts and data are inline; the data travels as JSON in a ``<script
type="application/json">`` block (with ``<`` escaped, so no recorded text can close it), and the
page's script draws from it. Nothing is fetched, so a page opens the same from a bug report, a
CI artifact or a laptop offline.
"""

from __future__ import annotations

import html
from pathlib import Path

from umi_dst import strict_json

STYLE = """
:root { --ok:#2e7d32; --fail:#c62828; --indet:#ef6c00; --cut:#6a1b9a; --muted:#666; --line:#ccc; }
* { box-sizing: border-box; }
body { font: 14px/1.4 system-ui, sans-serif; margin: 0; color: #222; background: #fafafa; }
header { padding: 10px 16px; background: #263238; color: #fff; }
header h1 { font-size: 17px; margin: 0 0 4px; }
header p { margin: 0; color: #cfd8dc; }
main { padding: 12px 16px; }
.verdict { padding: 10px 12px; border-radius: 4px; margin: 0 0 12px; white-space: pre-wrap; font-family: ui-monospace, monospace; font-size: 12.5px; }
.verdict.fail { background: #ffebee; border: 2px solid var(--fail); }
.verdict.pass { background: #e8f5e9; border: 2px solid var(--ok); }
.legend span { display: inline-block; margin-right: 14px; }
.legend i { display: inline-block; width: 12px; height: 12px; margin-right: 4px; vertical-align: -1px; }
.note { color: var(--muted); font-size: 12.5px; }
pre, code { font-family: ui-monospace, monospace; font-size: 12.5px; }
table { border-collapse: collapse; margin: 6px 0; }
td, th { border: 1px solid var(--line); padding: 2px 6px; text-align: left; vertical-align: top; font-size: 12.5px; }
.tooltip { position: fixed; display: none; max-width: 560px; background: #fff; border: 1px solid #888; padding: 6px 8px;
  box-shadow: 0 2px 8px rgba(0,0,0,.25); font: 12px/1.35 ui-monospace, monospace; white-space: pre-wrap; z-index: 10; pointer-events: none; }
"""

ESCAPE = """
function esc(s) { return String(s).replace(/[&<>"]/g, c => ({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;'}[c])); }
const DATA = JSON.parse(document.getElementById('data').textContent);
"""


def document(title: str, subtitle: str, data: object, body: str, style: str, script: str) -> str:
    """One whole page: ``body`` (trusted HTML made by this package), ``data`` for ``script``."""
    payload = strict_json.dumps(data, indent=None).replace("<", "\\u003c")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title>"
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; "
        "script-src 'unsafe-inline'; img-src data:\">"
        f"<style>{STYLE}{style}</style></head><body>"
        f"<header><h1>{html.escape(title)}</h1><p>{html.escape(subtitle)}</p></header>"
        f'<main>{body}</main><div class="tooltip" id="tooltip"></div>'
        f'<script type="application/json" id="data">{payload}</script>'
        f"<script>{ESCAPE}{script}</script></body></html>\n"
    )


def write(path: Path, text: str) -> Path:
    """Write the page atomically (a temporary file, then a rename), as seeds are. Text that is
    not UTF-8 (a lone surrogate a backend returned) is shown as its ``\\udXXX`` escape."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text, encoding="utf-8", errors="backslashreplace")
    temporary.replace(path)
    return path


def escape(text: object) -> str:
    return html.escape(str(text))
