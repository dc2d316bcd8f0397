"""The demo's tenant, through its own API key: created with the scenario's endpoints, its dead
endpoint's DLQ replayed, its deliveries still pending, and its endpoints deleted at the end.

``create_tenant`` makes it with the admin key; ``DemoTenant`` holds its API client and the
database (the pending count is ``EventRepository.count_by_status``: deliveries not yet
delivered, by tenant, endpoint and status). Errors are the API client's and the store's
(``HarborHookError``).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from harborctl.client import ApiClient, client_from_settings
from harborctl.demo import checks, scenario
from harborctl.demo.waiting import POLL, deadline
from harborctl.settings import Settings
from harborctl.store import Store

LISTED = 1000  # the most deliveries and DLQ entries read back for the replay check


def create_tenant(settings: Settings) -> tuple[str, str]:
    """A new tenant ``harborhook-demo-<UTC stamp>`` made with the admin key: (id, API key)."""
    with client_from_settings(settings) as admin:
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        tenant = admin.create_tenant(f"harborhook-demo-{stamp}")
    return str(tenant["tenant_id"]), str(tenant["api_key"])


class DemoTenant:
    """The demo tenant ``tenant_id``: ``endpoints`` (scenario key → endpoint id, filled as
    each is made) and ``replayed`` (the (delivery id, replay_of) of each dead delivery
    replayed from its DLQ)."""

    def __init__(self, tenant_id: str, api: ApiClient, store: Store) -> None:
        self.tenant_id = tenant_id
        self.api = api
        self.store = store
        self.endpoints: dict[str, str] = {}
        self.replayed: list[tuple[str, str]] = []

    @classmethod
    def open(cls, settings: Settings, tenant_id: str, api_key: str) -> DemoTenant:
        """The tenant through ``api_key`` at ``settings.api_url`` and the stack's database."""
        api = ApiClient(settings.api_url, api_key, key_source="the demo tenant")
        try:
            store = Store.open(settings.resolved_database_url)
        except BaseException:
            api.close()
            raise
        return cls(tenant_id, api, store)

    def add_endpoints(self, webhooks_url: str, secret: str) -> None:
        """The scenario's endpoints on the receiver at ``webhooks_url`` (signing with
        ``secret``), each subscribed to its event types."""
        for demo in scenario.ENDPOINTS:
            made = self.api.create_endpoint(
                self.tenant_id,
                demo.url(webhooks_url),
                secret=secret,
                description=f"demo: {demo.what}",
                max_attempts=demo.max_attempts,
                breaker_failure_threshold=demo.breaker_failure_threshold,
            )
            endpoint_id = str(made["endpoint"]["endpoint_id"])
            self.endpoints[demo.key] = endpoint_id
            for event_type in demo.event_types:
                self.api.create_subscription(self.tenant_id, endpoint_id, event_type)

    def replay_dead(self) -> None:
        """Replay the dead endpoint's DLQ when it holds anything; ``replayed`` grows."""
        endpoint_id = self.endpoints[scenario.DEAD]
        if not self.api.list_dlq(self.tenant_id, endpoint_id=endpoint_id, limit=1)["deliveries"]:
            return
        done = self.api.replay_dlq(self.tenant_id, endpoint_id=endpoint_id)
        self.replayed += [
            (str(d["delivery_id"]), str(d["replay_of"]))
            for d in done["deliveries"]
            if d.get("delivery_id")
        ]

    def pending(self) -> int:
        """How many of the tenant's deliveries are neither delivered nor dead."""
        return sum(
            count
            for (tenant, _, status), count in self.store.events.count_by_status().items()
            if tenant == self.tenant_id and status != "dead"
        )

    def settle(self, timeout: float) -> bool:
        """Wait until none of the tenant's deliveries is pending; False after ``timeout``
        seconds."""
        until = deadline(timeout)
        while self.pending():
            if time.monotonic() >= until:
                return False
            time.sleep(POLL)
        return True

    def check_replay(self) -> checks.Check:
        """The DLQ replay check: each replayed delivery landed, naming what it replayed."""
        dead_id = self.endpoints[scenario.DEAD]
        landed = self.api.list_deliveries(self.tenant_id, endpoint_id=dead_id, limit=LISTED)
        by_id = {str(d["delivery_id"]): d for d in landed["deliveries"]}
        left = self.api.list_dlq(self.tenant_id, endpoint_id=dead_id, limit=LISTED)
        return checks.check_replay(self.replayed, by_id, len(left["deliveries"]))

    def close(self) -> None:
        self.api.close()
        self.store.dispose()
