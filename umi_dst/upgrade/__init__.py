"""Upgrade testing: a store written by an older engine release, read and written by the current one.

``envs`` makes an isolated virtual environment per older release, ``protocol`` and
``lance_driver`` drive that release from a subprocess, ``factory`` switches a test case from
the old release to the current one, and ``spec`` names such a backend (``lance from
lancedb==0.30.2``) so a seed file records both versions and replays on both.
"""
