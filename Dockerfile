# HarborHook's image: the harborctl package installed from this checkout, run as a non-root
# user. One image for every HarborHook process; the command picks it:
#
#   docker build -t harborhook:0.1.0 .
#   docker run harborhook:0.1.0 run ingest     (the default; also: run worker | run monitor |
#                                                run migrate, or any other harborctl command)
#
# The compose stack (deploy/docker/docker-compose.yml) builds it and sets the environment
# (HARBORHOOK_* settings: database, NSQ, OTLP endpoint).
FROM python:3.11.10-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    HARBORHOOK_STATE_DIR=/var/lib/harborhook \
    HARBORHOOK_LOG_TO_FILE=false

# The checkout stays at /opt/harborhook, owned by root and read-only to the service user: the
# editable install keeps templates/ next to the package, as `harborctl` expects.
WORKDIR /opt/harborhook
COPY pyproject.toml README.md ./
COPY harborctl ./harborctl
COPY templates ./templates
RUN pip install -e . \
    && groupadd --system --gid 10001 harborhook \
    && useradd --system --uid 10001 --gid harborhook --home-dir /var/lib/harborhook \
        --create-home --shell /usr/sbin/nologin harborhook

USER harborhook:harborhook
WORKDIR /var/lib/harborhook
EXPOSE 8080 9101 9102

# The ingest's readiness (database and queue reachable); the compose file gives the worker
# and the monitor their own (/healthz on their metrics port).
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=3)", "http://127.0.0.1:8080/readyz"]

ENTRYPOINT ["harborctl"]
CMD ["run", "ingest"]
