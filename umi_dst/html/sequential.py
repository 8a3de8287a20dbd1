"""The page of a sequential seed: its steps as a timeline, the first divergence highlighted.

Each step is a row on one line: what it asked (arguments), the backend's and the oracle's
answers and the check that compared them; a fault is drawn as an event on the line with what
the harness logged of it. The verdict and the divergence's message head the page, and the
failing row is scrolled into view on load. A click on a row opens the store as it stood after
that step: its ids and, for a search, both ranked lists with scores and the tolerance band.
A seed past ``MAX_SHOWN_STEPS`` keeps its first steps and the ones before the divergence.
"""

from __future__ import annotations

from umi_dst.html import page
from umi_dst.html.trace import Trace

MAX_SHOWN_STEPS = 1_500
HEAD_STEPS = 50
"""Steps kept from the start of a capped seed; the rest of the cap goes to the divergence's lead-up."""

STYLE = """
.layout { display: flex; gap: 16px; align-items: flex-start; }
.timeline { flex: 1 1 60%; border-left: 3px solid var(--line); margin-left: 8px; }
.step { position: relative; padding: 4px 8px 4px 16px; margin: 2px 0; cursor: pointer; border-radius: 3px; }
.step:hover { background: #eceff1; }
.step::before { content: ''; position: absolute; left: -8px; top: 9px; width: 12px; height: 12px; border-radius: 50%; background: #90a4ae; }
.step.fault::before { background: var(--indet); border-radius: 2px; transform: rotate(45deg); }
.step.diverged { background: #ffebee; outline: 2px solid var(--fail); }
.step.diverged::before { background: var(--fail); }
.step.selected { background: #e3f2fd; }
.step .what { font-family: ui-monospace, monospace; font-size: 12.5px; }
.step .idx { color: var(--muted); display: inline-block; min-width: 3.5em; }
.step .event { color: var(--indet); font-size: 12px; }
.step .error { color: var(--fail); font-weight: 600; font-size: 12.5px; white-space: pre-wrap; }
.step .answers { font-size: 12px; color: #37474f; }
.gap { color: var(--muted); padding: 6px 16px; font-style: italic; }
#detail { flex: 1 1 40%; position: sticky; top: 8px; background: #fff; border: 1px solid var(--line); padding: 8px 10px; min-height: 120px; }
tr.tie td { background: #fff8e1; } tr.out td { color: var(--muted); }
"""

SCRIPT = """
const tl = document.getElementById('timeline'), detail = document.getElementById('detail');
function ranked(r) {
  if (!r) return '';
  const band = r.band ? `tolerance band: scores ${r.band[0].toFixed(6)} to ${r.band[1].toFixed(6)} tie with the ${r.limit}-th` : '';
  const inBand = s => r.band && typeof s === 'number' && s >= r.band[0] && s <= r.band[1];
  const rows = (list, limit) => list.map((e, i) => `<tr class="${inBand(e[1]) ? 'tie' : ''} ${i >= limit ? 'out' : ''}"><td>${i + 1}</td><td>${esc(e[0])}</td><td>${typeof e[1] === 'number' ? e[1].toFixed(6) : esc(e[1])}</td></tr>`).join('');
  return `<h4>search, limit ${r.limit}</h4><p class="note">${band}; rows past the limit (grey) are the oracle's next best</p>
    <div style="display:flex;gap:12px"><div><b>backend</b><table>${rows(r.backend, r.limit)}</table></div>
    <div><b>oracle</b><table>${rows(r.oracle, r.limit)}</table></div></div>`;
}
function show(s, row) {
  document.querySelectorAll('.step.selected').forEach(e => e.classList.remove('selected'));
  row.classList.add('selected');
  detail.innerHTML = `<h3>step ${s.index}: ${esc(s.kind)}</h3><pre>${esc(s.what)}</pre>
    <p><b>check:</b> ${esc(s.check || '')}</p>
    <p><b>backend:</b> ${esc(s.backend || '-')}<br><b>oracle:</b> ${esc(s.oracle || '-')}</p>
    ${s.failed ? `<p class="error" style="color:var(--fail)"><b>diverged:</b> ${esc(s.failed)}</p>` : ''}
    ${(s.log || []).length ? `<p><b>harness:</b></p><pre>${esc(s.log.join('\\n'))}</pre>` : ''}
    ${ranked(s.ranked)}
    <p><b>store after this step</b> (oracle): ${s.count || 0} ids</p><pre>${esc((s.ids || []).join(', '))}${(s.count || 0) > (s.ids || []).length ? ', ...' : ''}</pre>`;
}
let divergedRow = null, previous = -1;
for (const s of DATA.steps) {
  if (s.index !== previous + 1) tl.insertAdjacentHTML('beforeend', `<div class="gap">${s.index - previous - 1} steps not shown (page cap)</div>`);
  previous = s.index;
  const row = document.createElement('div');
  row.className = 'step' + (s.fault ? ' fault' : '') + (s.failed ? ' diverged' : '');
  row.dataset.index = s.index;
  row.innerHTML = `<div class="what"><span class="idx">#${s.index}</span>${esc(s.what)}</div>`
    + (s.fault ? `<div class="event">&#9889; fault ${esc(s.fault)}${(s.log || []).length ? ': ' + esc(s.log[s.log.length - 1]) : ''}</div>` : '')
    + `<div class="answers">backend: ${esc(s.backend || '-')} &nbsp;|&nbsp; oracle: ${esc(s.oracle || '-')} &nbsp;|&nbsp; check: ${esc(s.check || '')}</div>`
    + (s.failed ? `<div class="error">first divergence: ${esc(s.failed)}</div>` : '');
  row.addEventListener('click', () => show(s, row));
  tl.appendChild(row);
  if (s.failed) divergedRow = [s, row];
}
if (DATA.final_failed) {
  tl.insertAdjacentHTML('beforeend', `<div class="step diverged" id="final"><div class="what">final checks on a fresh connection</div><div class="error">first divergence: ${esc(DATA.message)}</div></div>`);
  divergedRow = [null, document.getElementById('final')];
}
if (divergedRow) { if (divergedRow[0]) show(divergedRow[0], divergedRow[1]); divergedRow[1].scrollIntoView({block: 'center'}); }
else if (DATA.steps.length) show(DATA.steps[DATA.steps.length - 1], tl.querySelector('.step:last-of-type'));
"""


def render(trace: Trace, title: str, description: str, extra: str = "", extra_style: str = "") -> str:
    """The whole page; ``extra`` is trusted HTML placed under the timeline (a crash panel)."""
    steps = [step.to_json() for step in _kept(trace)]
    failed = trace.failed_at is not None
    if failed:
        where = "the final checks" if trace.failed_at == len(trace.steps) else f"step {trace.failed_at}"
        verdict = f"FAIL on {trace.backend} at {where}: {trace.message}"
    else:
        verdict = f"PASS on {trace.backend}: every step and the final checks agree with the oracle"
    body = (
        f'<div class="verdict {"fail" if failed else "pass"}" id="verdict">{page.escape(verdict)}</div>'
        '<p class="legend note"><span><i style="background:#90a4ae;border-radius:50%"></i>step</span>'
        '<span><i style="background:var(--indet)"></i>fault or nemesis</span>'
        '<span><i style="background:var(--fail);border-radius:50%"></i>first divergence</span> click a step for the store and the answers</p>'
        '<div class="layout"><div class="timeline" id="timeline"></div><div id="detail"></div></div>'
        f"{extra}"
    )
    data = {
        "steps": steps,
        "message": trace.message,
        "final_failed": trace.failed_at == len(trace.steps) and failed,
        "atol": trace.atol,
    }
    return page.document(title, description, data, body, STYLE + extra_style, SCRIPT)


def _kept(trace: Trace) -> list:
    """Every step, or for a long seed its head and the lead-up to the divergence."""
    steps = trace.steps
    if len(steps) <= MAX_SHOWN_STEPS:
        return steps
    end = len(steps) if trace.failed_at is None else min(trace.failed_at + 1, len(steps))
    tail = steps[max(HEAD_STEPS, end - (MAX_SHOWN_STEPS - HEAD_STEPS)) : end]
    return steps[:HEAD_STEPS] + tail
