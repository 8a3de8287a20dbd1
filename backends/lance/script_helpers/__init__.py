"""Code that the Lance renderer's exported scripts embed (``umi_dst.export.calls.embedded``).

Real modules rather than strings, so that the linter and the tests read them as code.
"""
