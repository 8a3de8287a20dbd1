"""Studies: each a question about the framework or an engine, answered with a report of its own."""
