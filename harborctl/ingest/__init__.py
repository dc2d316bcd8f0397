"""The ingest HTTP API: thin routes over the services."""
