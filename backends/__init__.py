"""Vector backends: the Sim oracle, LanceDB, PostgreSQL + pgvector, and planted-bug mutants."""
