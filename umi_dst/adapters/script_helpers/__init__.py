"""Code an exported adapter script embeds (``export.calls.embedded``), kept as real modules so
the adapters and the scripts share one definition of how a record travels through the layer."""
