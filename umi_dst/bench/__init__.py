"""``umi-dst bench``: every backend measured side by side on the same generated data.

Data flows one way: ``data`` (seeded clustered vectors) and ``truth`` (the Sim's answers)
feed ``measure`` (one backend, every operation, through the registry) and ``baselines``
(the raw engines in the same process); ``engines`` knows each engine's extra hooks,
``sweep`` the approximate-search knobs, ``framework`` the harness's own cost. ``suite``
runs it all into one dict, ``report`` and ``charts`` write it, ``compare`` lines two up,
and ``command`` is the CLI.
"""
