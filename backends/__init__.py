"""Vector backends: the Sim oracle (``sim``), LanceDB (``lance/``) and PostgreSQL + pgvector
(``postgres/``). Each real backend is one package holding its store, its factories, its faults
and its upstream case study. Planted-bug backends are self-test material: ``umi_dst.selftest``."""
