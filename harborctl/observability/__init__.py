"""Metrics, tracing and logging set-up, and the NSQ backlog monitor."""
