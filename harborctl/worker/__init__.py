"""The delivery worker: consumer loop, outbound HTTP, graceful shutdown."""
