"""Failure signatures: which check failed, on which operation kind, under which fault.

Two failures of one bug share a signature even when Hypothesis drew different ids, vectors,
counts or limits, so a campaign saves the first failure of each signature and only counts the
later ones. The check is the error's message with every value taken out (quoted strings,
numbers, lists, the defect of an invalid-input step); the backend is added by the campaign.
"""

from __future__ import annotations

import re

from umi_dst.operations import Invalid, Step

FINAL = "final checks"
"""The operation kind of a failure in the end-of-case checks (no step)."""

_VALUES = (
    # A torn crash state's file: how much of its old and new bytes it kept is drawn, like a value.
    (re.compile(r"its file holding \d+ bytes \([^()]*\)"), "its file torn"),
    (re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\""), "<s>"),
    (re.compile(r"\[[^\[\]]*\]"), "[…]"),
    (re.compile(r"(?<![\w.])[-+]?(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?(?![\w])", re.IGNORECASE), "<n>"),
)
_DICT = re.compile(r"\{[^{}]*\}")
"""A dict once its values are out (a filter, metadata): which keys and operators a filter of
one bug was drawn with is a value too, so it collapses to ``<dict>``, innermost first."""
MAX_CHECK_LENGTH = 200


def signature(step: Step | None, error_name: str, message: str) -> str:
    """``"<operation> [<fault>] <error>: <check>"`` for a failure at ``step`` (None: final checks)."""
    operation = FINAL if step is None else step.op.kind
    fault = f" [{step.fault}]" if step is not None and step.fault else ""
    return f"{operation}{fault} {error_name}: {check(message, step)}"


def check(message: str, step: Step | None = None) -> str:
    """The failed check: the message without the values it quotes."""
    if step is not None and isinstance(step.op, Invalid):
        message = message.replace(step.op.defect, "<defect>")
    for pattern, placeholder in _VALUES:
        message = pattern.sub(placeholder, message)
    while _DICT.search(message):
        message = _DICT.sub("<dict>", message)
    return message[:MAX_CHECK_LENGTH]


def of_failure(steps: list[Step], at_step: int | None, error: BaseException) -> str:
    """The signature of a machine's recorded failure."""
    step = None if at_step is None else steps[at_step]
    return signature(step, type(error).__name__, str(getattr(error, "message", error)))


def of_seed(steps: list[Step], failure: dict) -> str:
    """The signature a seed file records (its failing step, error kind and message)."""
    at_step = failure.get("step")
    step = steps[at_step] if isinstance(at_step, int) and 0 <= at_step < len(steps) else None
    return signature(step, str(failure.get("error", "")), str(failure.get("message", "")))
