"""The Tempo, Loki, Promtail and Grafana datasource files under deploy/docker parse, and every
datasource uid they reference exists."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

DOCKER = Path(__file__).resolve().parents[3] / "deploy" / "docker"


def load(relative: str) -> Any:
    return yaml.safe_load((DOCKER / relative).read_text())


def datasources() -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = load("grafana/provisioning/datasources/datasources.yaml")[
        "datasources"
    ]
    return found


def referenced_uids(value: Any) -> list[str]:
    """Every ``datasourceUid`` anywhere in a datasource's settings."""
    if isinstance(value, dict):
        found = [str(value["datasourceUid"])] if "datasourceUid" in value else []
        for item in value.values():
            found += referenced_uids(item)
        return found
    if isinstance(value, list):
        return [uid for item in value for uid in referenced_uids(item)]
    return []


def test_datasources_have_the_fixed_uids() -> None:
    by_uid = {d["uid"]: d for d in datasources()}
    assert {uid: d["type"] for uid, d in by_uid.items()} == {
        "prometheus": "prometheus",
        "tempo": "tempo",
        "loki": "loki",
    }


def test_every_referenced_uid_exists() -> None:
    uids = {d["uid"] for d in datasources()}
    references = [uid for d in datasources() for uid in referenced_uids(d.get("jsonData", {}))]
    assert references
    assert set(references) <= uids


def test_trace_to_logs_and_logs_to_trace_resolve() -> None:
    by_uid = {d["uid"]: d for d in datasources()}
    to_logs = by_uid["tempo"]["jsonData"]["tracesToLogsV2"]
    assert to_logs["datasourceUid"] == "loki"
    assert "trace_id" in to_logs["query"]
    [derived] = by_uid["loki"]["jsonData"]["derivedFields"]
    assert derived["datasourceUid"] == "tempo"
    assert "trace_id" in derived["matcherRegex"]


def test_promtail_keeps_ids_out_of_the_labels() -> None:
    config = load("promtail/promtail.yaml")
    [job] = config["scrape_configs"]
    stages = job["pipeline_stages"]
    labels = [set(stage["labels"]) for stage in stages if "labels" in stage]
    assert labels == [{"service", "level"}]
    json_stage = next(stage["json"] for stage in stages if "json" in stage)
    assert "trace_id" not in json_stage["expressions"]
    assert config["clients"][0]["url"].endswith("/loki/api/v1/push")


def test_tempo_and_loki_listen_where_the_settings_expect() -> None:
    tempo = load("tempo/tempo.yaml")
    assert tempo["server"]["http_listen_port"] == 3200
    assert tempo["distributor"]["receivers"]["otlp"]["protocols"]["http"]["endpoint"].endswith(
        ":4318"
    )
    loki = load("loki/loki.yaml")
    assert loki["server"]["http_listen_port"] == 3100
    assert loki["auth_enabled"] is False
