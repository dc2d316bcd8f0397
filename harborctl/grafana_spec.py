"""The ``grafana:`` section of the HarborHook config: where the dashboards point and live.

Example (every key optional)::

    grafana:
      datasources: {prometheus: prometheus, loki: loki, tempo: tempo}   # datasource uids
      folder_uid: harborhook
      folder_title: HarborHook

The defaults are the uids of the compose stack's provisioned datasources
(``deploy/docker/grafana/provisioning/datasources/datasources.yaml``); an operator pushing the
dashboards to a Grafana of their own names that Grafana's datasource uids here.

Uids follow Grafana's rules (``pkg/util/shortid_generator.go``: ``^[a-zA-Z0-9_-]*$``, at most
40 characters), and a folder may not take the uid ``general`` (the root folder's).
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

UID_PATTERN = re.compile(r"^[a-zA-Z0-9_-]+$")
UID_MAX = 40
RESERVED_FOLDER_UIDS = ("general", "sharedwithme")  # Grafana's root and virtual folders


def check_uid(value: str) -> str:
    """``value`` when Grafana accepts it as a dashboard, folder or datasource uid."""
    if not UID_PATTERN.match(value):
        raise ValueError(f"{value!r} is not a Grafana uid: only a-z A-Z 0-9 _ - allowed")
    if len(value) > UID_MAX:
        raise ValueError(f"{value!r} is longer than Grafana's {UID_MAX}-character uid limit")
    return value


def _check_folder_uid(value: str) -> str:
    check_uid(value)
    if value.lower() in RESERVED_FOLDER_UIDS:
        raise ValueError(f"{value!r} is reserved by Grafana for a built-in folder")
    return value


Uid = Annotated[str, AfterValidator(check_uid)]
FolderUid = Annotated[str, AfterValidator(_check_folder_uid)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatasourceUids(_Model):
    """The uids of the Grafana datasources the dashboards query."""

    prometheus: Uid = "prometheus"
    loki: Uid = "loki"
    tempo: Uid = "tempo"


class GrafanaSpec(_Model):
    """Datasource uids and the folder the dashboards are provisioned or pushed into."""

    datasources: DatasourceUids = DatasourceUids()
    folder_uid: FolderUid = "harborhook"
    folder_title: str = Field(default="HarborHook", min_length=1, max_length=200)
