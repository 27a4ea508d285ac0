"""Runners: load, map over user buckets, reduce, in memory or out of core."""
