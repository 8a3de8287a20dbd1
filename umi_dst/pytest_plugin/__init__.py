"""The pytest plugin: options, contract items, seed files collected as tests."""
