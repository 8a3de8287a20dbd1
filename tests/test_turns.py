"""Turns: the clients of a simulated store run one at a time, in an order fixed by their steps."""

from __future__ import annotations

import threading

import pytest

from umi_dst.concurrency.turns import Turns


def run_clients(turns: Turns, bodies) -> list[str]:
    """Run each body on its own thread as client i of one scheduled run; return what they logged."""
    log: list[str] = []
    start = threading.Barrier(len(bodies))

    def client(index: int) -> None:
        start.wait()
        with turns.client(index):
            bodies[index](log)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(len(bodies))]
    with turns.run(len(bodies)):
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    return log


def steps(turns: Turns, name: str, count: int):
    def body(log: list[str]) -> None:
        for step in range(count):
            log.append(f"{name}{step}")
            turns.pause(0)

    return body


def test_clients_take_turns_round_robin_the_same_way_every_run():
    turns = Turns()
    runs = {
        tuple(run_clients(turns, [steps(turns, "a", 3), steps(turns, "b", 1), steps(turns, "c", 2)])) for _ in range(20)
    }
    assert runs == {("a0", "b0", "c0", "a1", "c1", "a2")}, "a finished client leaves the round"


def test_a_window_stays_open_until_its_partner_comes_or_everyone_else_is_done():
    turns = Turns()

    def waiter(log: list[str]) -> None:
        log.append("open")
        turns.pause_until(0, lambda: "partner" in log)
        log.append("closed")

    def other(log: list[str]) -> None:
        for entry in ("read", "read", "partner", "after"):
            log.append(entry)
            turns.pause(0)

    assert run_clients(turns, [waiter, other]) == ["open", "read", "read", "partner", "closed", "after"]
    alone = run_clients(turns, [waiter, steps(turns, "x", 2)])
    assert alone == ["open", "x0", "x1", "closed"], "with nobody left to come, the window closes"


def test_outside_a_scheduled_run_a_pause_is_a_sleep_and_runs_do_not_nest():
    turns = Turns()
    turns.pause(0)
    turns.pause_until(0, lambda: False)
    with turns.run(1), pytest.raises(RuntimeError, match="already going on"):
        with turns.run(1):
            pass


def test_two_windows_waiting_for_each_other_do_not_hold_each_other_up():
    """Each window waits for a call only a client outside a window could make: the second to
    open sees that nobody is left to make it and closes at once, then the first."""
    turns = Turns()

    def waiter(name: str):
        def body(log: list[str]) -> None:
            log.append(f"{name} open")
            turns.pause_until(0, lambda: "never" in log)
            log.append(f"{name} closed")

        return body

    assert run_clients(turns, [waiter("a"), waiter("b")]) == ["a open", "b open", "b closed", "a closed"]
