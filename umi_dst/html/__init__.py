"""Self-contained HTML pages that show a failure: one per seed, one per campaign report.

``render_seed`` picks the page by the seed's kind: a sequential seed's timeline (with a crash
panel when a step crashes the process inside a write) or a parallel seed's client tracks.
"""
