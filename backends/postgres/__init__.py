"""PostgreSQL + pgvector: ``server`` (the embedded or external server), ``store`` (the backend),
``nemeses`` and ``crash_points`` (its faults, timed and at named points), ``factory`` (the
registered builders), ``upstream`` (the case study) and ``export`` (findings as scripts)."""
