"""Campaigns: shards, one shard's run, the driver and its workers, signatures, coverage, reports."""
