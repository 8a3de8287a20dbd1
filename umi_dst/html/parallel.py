"""The page of a parallel seed: one track per client, each call a bar in time.

A bar runs from the call's invocation to its return, coloured by outcome: ok, failed (a read
that raised), indeterminate (a write that raised: it may or may not have landed), cut off by a
crash. A nemesis strike (a write placed at a crash point, a killed client) is drawn as a line
across every track. When the history cannot be ordered, the calls the checker could not place
(its minimal explanation) are outlined, the writes it left free to land are hatched, the
longest linearizable prefix is shaded, and the checker's explanation stands beside the tracks
in words. Hovering a bar shows the call: arguments, moments, answer.

A history past ``MAX_SHOWN_CALLS`` keeps the explanation's calls and the calls overlapping
their time span, then the earliest others, up to the cap.
"""

from __future__ import annotations

from umi_dst.checking.harness import describe
from umi_dst.concurrency.history import History, shown
from umi_dst.html import page
from umi_dst.operations import Step, StoreBatch

MAX_SHOWN_CALLS = 12_000
MAX_LABEL = 300
"""Characters of a call's arguments and answer kept for its tooltip."""


def render(
    history: History,
    title: str,
    description: str,
    verdict: str,
    core: list[int],
    optional: list[int],
    prefix: int | None,
) -> str:
    """``prefix``: how many calls, in invocation order, form the longest linearizable prefix
    (``None``: all of them)."""
    kept = _kept(history, core)
    origin = min((c.invoked for c in history.calls), default=0)
    by_invocation = sorted(range(len(history.calls)), key=lambda i: history.calls[i].invoked)
    in_prefix = set(by_invocation if prefix is None else by_invocation[:prefix])
    core_set, optional_set = set(core), set(optional)
    calls = []
    for i in kept:
        call = history.calls[i]
        flags = "".join(
            flag
            for flag, on in (
                ("c", i in core_set),
                ("o", i in optional_set),
                ("p", i in in_prefix),
                ("s", call.planned.at is not None or call.planned.fault is not None),
            )
            if on
        )
        calls.append(
            [
                i,
                call.client,
                (call.invoked - origin) // 1000,
                (call.completed - origin) // 1000,
                _outcome(call),
                _what(call)[:MAX_LABEL],
                _answer(history, i)[:MAX_LABEL],
                flags,
            ]
        )
    clients = 1 + max((c.client for c in history.calls), default=-1)
    data = {
        "calls": calls,
        "clients": clients,
        "total": len(history.calls),
        "reader": clients - 1,
        "prefix": prefix is not None,
    }
    failed = bool(core)
    if prefix is not None:
        prefix_note = f"the first {prefix} of {len(history.calls)} calls (by invocation) can be ordered; shaded"
    else:
        prefix_note = (
            "not searched: a call raised with no fault (outlined)"
            if core
            else "every call: the history is linearizable"
        )
    cap = (
        f" (page cap: {len(kept)} of {len(history.calls)} calls drawn, the explanation and its neighbourhood kept)"
        if len(kept) < len(history.calls)
        else ""
    )
    body = (
        f'<div class="verdict {"fail" if failed else "pass"}" id="verdict">{page.escape(verdict)}</div>'
        f'<p class="note">longest linearizable prefix: {page.escape(prefix_note)}{page.escape(cap)}</p>'
        '<p class="legend note"><span><i style="background:var(--ok)"></i>ok</span><span><i style="background:var(--fail)"></i>failed</span>'
        '<span><i style="background:var(--indet)"></i>indeterminate</span><span><i style="background:var(--cut)"></i>cut off by a crash</span>'
        '<span><i style="outline:3px solid #000;background:#fff"></i>cannot be placed</span><span><i style="background:#ffd54f"></i>nemesis strike</span>'
        " hover a call for its arguments; the last track is the read-back after the run</p>"
        '<div id="chart"><div id="axis"></div><div id="tracks"></div></div>'
    )
    return page.document(title, description, data, body, STYLE, SCRIPT)


def _kept(history: History, core: list[int]) -> list[int]:
    """Every call, or past the cap: the explanation, the calls overlapping its span, the earliest others."""
    calls = history.calls
    if len(calls) <= MAX_SHOWN_CALLS:
        return list(range(len(calls)))
    near: list[int] = []
    if core:
        start, end = min(calls[i].invoked for i in core), max(calls[i].completed for i in core)
        near = [i for i, c in enumerate(calls) if c.completed >= start and c.invoked <= end]
    chosen = dict.fromkeys([*core, *near, *range(len(calls))])
    return sorted(list(chosen)[: max(MAX_SHOWN_CALLS, len(core))])


def _outcome(call) -> str:
    if call.cut_off:
        return "cut"
    if call.error is None:
        return "ok"
    return "indet" if call.indeterminate else "fail"


def _what(call) -> str:
    op = call.planned.op
    what = f"store_batch(ids={[id for id, _ in op.items]!r})" if isinstance(op, StoreBatch) else describe(Step(op))
    if call.planned.fault:
        what += f" under {call.planned.fault}"
    if call.planned.at is not None:
        what += f" at {call.planned.at.point} k={call.planned.at.k}"
    return what


def _answer(history: History, index: int) -> str:
    call = history.calls[index]
    if call.error is not None:
        return f"raised {call.error}"
    return shown(call.value)


STYLE = """
#chart { position: relative; background: #fff; border: 1px solid var(--line); padding: 4px 8px 8px 90px; overflow-x: auto; }
#axis { position: relative; height: 18px; font-size: 11px; color: var(--muted); }
#axis span { position: absolute; top: 0; transform: translateX(-50%); }
.track { position: relative; height: 26px; border-bottom: 1px dashed #e0e0e0; }
.track .label { position: absolute; left: -86px; width: 80px; top: 5px; font-size: 12px; text-align: right; color: #37474f; }
.bar { position: absolute; top: 5px; height: 16px; min-width: 3px; border-right: 1px solid #fff; }
.bar.ok { background: var(--ok); } .bar.fail { background: var(--fail); } .bar.indet { background: var(--indet); } .bar.cut { background: var(--cut); }
.bar.core { outline: 3px solid #000; z-index: 2; top: 3px; height: 20px; }
.bar.opt { background-image: repeating-linear-gradient(45deg, rgba(255,255,255,.6) 0 3px, transparent 3px 6px); }
.bar.outside { filter: saturate(.35); }
.prefix { position: absolute; top: 0; bottom: 0; background: rgba(46,125,50,.07); pointer-events: none; }
.strike { position: absolute; top: 0; bottom: 0; width: 3px; background: #ffd54f; pointer-events: none; z-index: 1; }
"""

SCRIPT = """
const tracks = document.getElementById('tracks'), axis = document.getElementById('axis'), tip = document.getElementById('tooltip');
const calls = DATA.calls, end = Math.max(1, ...calls.map(c => c[3]));
const width = Math.max(900, Math.min(6000, calls.length * 4)), x = t => (t / end) * width;
tracks.style.width = axis.style.width = width + 'px';
for (let k = 0; k <= 10; k++) axis.insertAdjacentHTML('beforeend', `<span style="left:${x(end * k / 10)}px">${(end * k / 10 / 1000).toFixed(1)} ms</span>`);
const rows = [];
for (let c = 0; c < DATA.clients; c++) {
  const row = document.createElement('div');
  row.className = 'track'; row.dataset.client = c;
  row.innerHTML = `<span class="label">${c === DATA.reader ? 'read-back' : 'client ' + c}</span>`;
  tracks.appendChild(row); rows.push(row);
}
let prefixEnd = 0, html = rows.map(() => []);
for (const c of calls) {
  const cls = ['bar', c[4]];
  if (c[7].includes('c')) cls.push('core');
  if (c[7].includes('o')) cls.push('opt');
  if (DATA.prefix && !c[7].includes('p')) cls.push('outside'); else prefixEnd = Math.max(prefixEnd, c[3]);
  html[c[1]].push(`<div class="${cls.join(' ')}" data-i="${c[0]}" style="left:${x(c[2])}px;width:${Math.max(3, x(c[3]) - x(c[2]))}px"></div>`);
}
rows.forEach((row, k) => row.insertAdjacentHTML('beforeend', html[k].join('')));
if (DATA.prefix) tracks.insertAdjacentHTML('afterbegin', `<div class="prefix" style="left:0;width:${x(prefixEnd)}px"></div>`);
for (const c of calls) if (c[7].includes('s')) tracks.insertAdjacentHTML('beforeend', `<div class="strike" title="nemesis" style="left:${x(c[2])}px"></div>`);
const byIndex = new Map(calls.map(c => [c[0], c]));
const names = {ok: 'ok', fail: 'failed', indet: 'indeterminate', cut: 'cut off by a crash'};
tracks.addEventListener('mouseover', e => {
  const bar = e.target.closest('.bar'); if (!bar) return;
  const c = byIndex.get(+bar.dataset.i);
  tip.textContent = `#${c[0]} client ${c[1]}  ${(c[2] / 1000).toFixed(3)}-${(c[3] / 1000).toFixed(3)} ms\\n${c[5]}\\n-> ${c[6]}\\n${names[c[4]]}`
    + (c[7].includes('c') ? '\\ncannot be placed in any order' : '') + (c[7].includes('o') ? '\\nleft free to land at any moment, or never' : '');
  tip.style.display = 'block';
});
tracks.addEventListener('mousemove', e => { tip.style.left = Math.min(e.clientX + 12, innerWidth - 570) + 'px'; tip.style.top = (e.clientY + 14) + 'px'; });
tracks.addEventListener('mouseout', e => { if (e.target.closest('.bar')) tip.style.display = 'none'; });
"""
