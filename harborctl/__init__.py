"""HarborHook: multi-tenant webhook delivery with observability built in."""

__version__ = "0.1.0"
