"""The crash panel of a sequential seed whose step crashes the process inside a write.

On a store of its own, the steps before the crash run through the ``Harness``; the crashing
write then runs while its file operations are recorded (``file_ops.record``), and every crash
state (``crash_states``) is opened with a fresh connection that reads the write's ids back.
The panel lists the operations in order, marks where the process died (the state the seed's
crash point names), lists the files as they stood there (names, sizes, torn bytes), and per
state what the fresh connection read of each id against the old and the new state.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from umi_dst import registry
from umi_dst.campaign import leftovers
from umi_dst.checking import crash_states, file_ops
from umi_dst.checking.harness import Harness
from umi_dst.contract import WriteCall
from umi_dst.html import page
from umi_dst.operations import Step
from umi_dst.validation import last_wins

READ_IDS = 16
"""Ids of the write read back per crash state (a big batch is sampled from its start)."""
SHOWN_STATES = 60


def crash_step(steps: Sequence[Step]) -> int | None:
    """The first step that crashes the process inside a write, if any."""
    return next((i for i, step in enumerate(steps) if step.fault == crash_states.CRASH and step.at is not None), None)


def panel(
    steps: Sequence[Step], at_step: int, spec: str, dim: int, failure: str = "", workdir: Path | None = None
) -> str:
    """The panel's HTML for ``steps[at_step]``; a note instead when the steps before it fail.
    The state the replay's ``failure`` message names is marked as the one that failed."""
    with leftovers.scratch_directory("html-crash", workdir) as scratch:
        factory = registry.build(spec, scratch, dim)
        harness = Harness(factory)
        try:
            for step in steps[:at_step]:
                harness.run(step)
            return _explore(harness, steps[at_step], failure)
        except Exception as error:
            return f'<p class="note">crash panel unavailable: {page.escape(type(error).__name__)}: {page.escape(error)}</p>'
        finally:
            with contextlib.suppress(Exception):
                harness.close()
            factory.destroy()


def _explore(harness: Harness, step: Step, failure: str) -> str:
    root = harness.data_dir
    if root is None:
        raise ValueError(f"backend {harness.factory.name!r} declares no data_dir")
    call = harness.write_call(step.op)
    ids = [id for id, _ in last_wins(call.args[0])] if call.method == "store_batch" else [call.args[0]]
    ids = ids[:READ_IDS]
    old = {id: harness.oracle.get(id) for id in ids}
    new = _new_values(call, ids)
    root.mkdir(parents=True, exist_ok=True)
    _, before, ops, after = file_ops.record(root, lambda: call.apply(harness.backend))
    states = crash_states.crash_states(before, ops)
    target = crash_states.chosen(states, step.at)
    total = len(ops)
    rows, current = [], after
    for state in crash_states.distinct(states)[:SHOWN_STATES]:
        crash_states.materialize(root, current, state.files)
        current = state.files
        rows.append((state, _read(harness, ids, old, new)))
    return _html(step, ops, target, total, rows, before, failure)


def _new_values(call: WriteCall, ids: list[str]) -> dict:
    if call.method == "delete":
        return {id: None for id in ids}
    items = dict(last_wins(call.args[0])) if call.method == "store_batch" else {call.args[0]: call.args[1]}
    return {id: items[id] for id in ids}


def _read(harness: Harness, ids: list[str], old: dict, new: dict) -> dict[str, str]:
    """Per id: ``old``, ``new``, ``neither`` or the error a fresh connection gave."""
    try:
        backend = harness.factory.open()
    except Exception as error:
        return {"(open)": f"fails: {type(error).__name__}: {error}"}
    try:
        read = {}
        for id in ids:
            value = backend.get(id)
            read[id] = "new" if _same(value, new[id]) else "old" if _same(value, old[id]) else "neither"
        return read
    except Exception as error:
        return {"(read)": f"fails: {type(error).__name__}: {error}"}
    finally:
        with contextlib.suppress(Exception):
            backend.close()


def _same(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return np.asarray(a, np.float32).tobytes() == np.asarray(b, np.float32).tobytes()


def _op_text(op: file_ops.FileOp) -> str:
    if isinstance(op, file_ops.Put):
        return f"write {op.path} ({len(op.content)} bytes{', can tear' if op.torn else ''})"
    if isinstance(op, file_ops.Rename):
        return f"rename {op.path} -> {op.target}"
    if isinstance(op, file_ops.Remove):
        return f"remove {op.path}"
    return f"mkdir {op.path}"


def _html(step, ops, target, total, rows, before, failure: str) -> str:
    died = target.k
    op_rows = "".join(
        f'<tr class="{"done" if k < died else "died" if k == died else "never"}"><td>{k + 1}</td><td>{page.escape(_op_text(op))}</td>'
        f"<td>{'done' if k < died else ('torn here' if target.torn_bytes is not None else 'the process died before this') if k == died else 'never ran'}</td></tr>"
        for k, op in enumerate(ops)
    )
    files = "".join(
        f'<tr class="{"changed" if before.get(path) != content else ""}"><td>{page.escape(path)}{"/" if content is None else ""}</td>'
        f"<td>{'dir' if content is None else len(content)}</td>"
        f"<td>{'new' if path not in before else '' if before[path] == content else 'changed'}</td></tr>"
        for path, content in sorted(target.files.items())
    )
    state_rows = "".join(
        f'<tr class="{"target" if state is target else ""}{" failed" if f"with a {state.label(total)} " in failure else ""}'
        f'{" mixed" if len(set(read.values())) > 1 or "neither" in read.values() else ""}">'
        f"<td>{page.escape(state.label(total))}</td>"
        f"<td>{page.escape(', '.join(f'{id}: {v}' for id, v in read.items()))}</td></tr>"
        for state, read in rows
    )
    return (
        '<section class="crash" id="crash"><h2>crash point</h2>'
        f"<p>{page.escape(f'the process died at {step.at.point} k={step.at.k}: {target.label(total)}')}"
        f"{page.escape(f', {target.kept}') if target.kept else ''}</p>"
        '<div class="crashgrid"><div><h3>file operations of the write</h3>'
        f'<table class="ops"><tr><th>#</th><th>operation</th><th>at the crash</th></tr>{op_rows}</table></div>'
        f'<div><h3>files as they stood</h3><table class="files"><tr><th>path</th><th>bytes</th><th></th></tr>{files}</table></div></div>'
        "<h3>what a fresh connection read, per crash state (old / new / neither per id; outlined: where the process died; red: the state the check failed)</h3>"
        f'<table class="states"><tr><th>state</th><th>read</th></tr>{state_rows}</table></section>'
    )


STYLE = """
#crash { margin-top: 14px; }
.crash { background: #fff; border: 1px solid var(--line); padding: 8px 12px; margin-bottom: 12px; }
.crashgrid { display: flex; gap: 16px; flex-wrap: wrap; }
.crash h2 { font-size: 16px; margin: 0 0 6px; } .crash h3 { font-size: 14px; margin: 8px 0 4px; }
tr.done td { color: #33691e; } tr.died td { background: #ffebee; font-weight: 600; } tr.never td { color: #9e9e9e; }
tr.changed td { background: #fff8e1; } tr.target td { outline: 2px solid #000; } tr.failed td { background: #ffcdd2; } tr.mixed td:last-child { color: var(--fail); font-weight: 600; }
"""
