"""Backends with planted bugs: the framework's self-test. Each carries one known defect (or, in
``three_bugs``, several) that the checks must catch; the tests in ``tests/`` hold them to it."""
