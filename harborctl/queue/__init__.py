"""Transports behind one interface: `nsq` (real nsqd) and `db` (workers claim due rows)."""
