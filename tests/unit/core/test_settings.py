from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from harborctl.errors import ConfigError
from harborctl.settings import load_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("HARBORHOOK_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HARBORHOOK_STATE_DIR", str(tmp_path))


def test_defaults_are_the_embedded_stack(tmp_path: Path) -> None:
    settings = load_settings()
    assert settings.transport == "db"
    assert settings.resolved_database_url == f"sqlite:///{tmp_path / 'harborhook.db'}"
    assert settings.max_attempts == 8
    assert settings.connect_timeout == 2.0 and settings.total_timeout == 5.0


def test_environment_overrides_yaml_which_overrides_defaults(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = tmp_path / "harborhook.yaml"
    config.write_text("transport: nsq\nworker_max_in_flight: 7\nmax_attempts: 3\n")
    monkeypatch.setenv("HARBORHOOK_CONFIG", str(config))
    monkeypatch.setenv("HARBORHOOK_MAX_ATTEMPTS", "5")
    settings = load_settings()
    assert settings.transport == "nsq"
    assert settings.worker_max_in_flight == 7
    assert settings.max_attempts == 5


@pytest.mark.parametrize(
    ("name", "value", "named"),
    [
        ("HARBORHOOK_WORKER_MAX_IN_FLIGHT", "many", "HARBORHOOK_WORKER_MAX_IN_FLIGHT"),
        ("HARBORHOOK_TRANSPORT", "kafka", "HARBORHOOK_TRANSPORT"),
        ("HARBORHOOK_NSQD_TCP_ADDRESSES", '["nsqd"]', "HARBORHOOK_NSQD_TCP_ADDRESSES"),
        ("HARBORHOOK_API_URL", "ftp://x", "HARBORHOOK_API_URL"),
        ("HARBORHOOK_CONNECT_TIMEOUT", "-1", "HARBORHOOK_CONNECT_TIMEOUT"),
    ],
)
def test_a_bad_value_stops_start_up_naming_it(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, named: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert named in str(caught.value)


def test_unknown_yaml_key_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("trasnport: nsq\n")
    monkeypatch.setenv("HARBORHOOK_CONFIG", str(config))
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert "trasnport" in str(caught.value)


def test_malformed_yaml_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("transport: [\n")
    monkeypatch.setenv("HARBORHOOK_CONFIG", str(config))
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert str(config) in str(caught.value)


def test_admin_key_is_generated_once_with_mode_0600(tmp_path: Path) -> None:
    from harborctl.settings import ensure_admin_key

    settings = load_settings()
    path = tmp_path / "admin.key"
    assert not path.exists()  # loading the settings writes nothing
    key = ensure_admin_key(settings)
    assert path.read_text().strip() == key
    assert path.stat().st_mode & 0o777 == 0o600
    assert ensure_admin_key(load_settings()) == key


def test_a_running_stack_s_decisions_reach_the_cli(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from harborctl.layout import StateLayout
    from harborctl.stack.plan import stack_settings

    decided = stack_settings(
        {
            "HARBORHOOK_TRANSPORT": "nsq",
            "HARBORHOOK_NSQLOOKUPD_HTTP_ADDRESSES": '["127.0.0.1:4999"]',
            "HARBORHOOK_INGEST_PORT": "8123",
            "HARBORHOOK_ADMIN_KEY": "never-written",
        }
    )
    assert "admin_key" not in decided
    path = StateLayout.at(tmp_path).stack_settings_file
    path.parent.mkdir()
    path.write_text(json.dumps(decided))
    (tmp_path / "harborhook.yaml").write_text("transport: db\nmax_attempts: 4\n")
    settings = load_settings()
    assert settings.transport == "nsq"  # the stack beats the YAML file
    assert settings.nsqlookupd_http_addresses == ["127.0.0.1:4999"]
    assert settings.api_url == "http://127.0.0.1:8123"
    assert settings.max_attempts == 4
    monkeypatch.setenv("HARBORHOOK_TRANSPORT", "db")
    assert load_settings().transport == "db"  # the environment beats the stack


def test_an_explicit_state_dir_reads_its_own_stack_and_config_files(tmp_path: Path) -> None:
    from harborctl.layout import StateLayout

    elsewhere = tmp_path / "other"
    running = StateLayout.at(tmp_path).stack_settings_file  # HARBORHOOK_STATE_DIR points here
    running.parent.mkdir()
    running.write_text(json.dumps({"transport": "nsq"}))
    assert load_settings().transport == "nsq"
    assert load_settings(state_dir=elsewhere).transport == "db"
    elsewhere.mkdir()
    (elsewhere / "harborhook.yaml").write_text("max_attempts: 2\n")
    assert load_settings(state_dir=elsewhere).max_attempts == 2


@pytest.mark.parametrize(
    ("variable", "value", "named"),
    [
        ("HARBORHOOK_DELIVERIES_TOPIC", "harbor hook", "deliveries_topic"),
        ("HARBORHOOK_DLQ_TOPIC", "x" * 65, "dlq_topic"),
        ("HARBORHOOK_WORKER_CHANNEL", "work/ers", "worker_channel"),
        ("HARBORHOOK_DELIVERIES_TOPIC", "", "deliveries_topic"),
        ("HARBORHOOK_NSQD_TCP_ADDRESSES", '["127.0.0.1:99999"]', "nsqd_tcp_addresses"),
        ("HARBORHOOK_NSQD_TCP_ADDRESSES", "127.0.0.1:4150", "nsqd_tcp_addresses"),
        ("HARBORHOOK_PROMETHEUS_URL", "ftp://prometheus", "prometheus_url"),
        ("HARBORHOOK_OTLP_ENDPOINT", "tempo:4318", "otlp_endpoint"),
        ("HARBORHOOK_JAEGER_URL", "127.0.0.1:16686", "jaeger_url"),
        ("HARBORHOOK_JAEGER_URL", "grpc://127.0.0.1:16685", "jaeger_url"),
        ("HARBORHOOK_JAEGER_URL", "http://jaeger:query", "jaeger_url"),
        ("HARBORHOOK_ALERTMANAGER_URL", "http://am:port", "alertmanager_url"),
        ("HARBORHOOK_PROMETHEUS_SCRAPE_INTERVAL", "5", "prometheus_scrape_interval"),
        ("HARBORHOOK_CONNECT_TIMEOUT", "9", "connect_timeout"),
    ],
)
def test_values_the_tools_underneath_refuse_stop_start_up_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, named: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert str(caught.value).startswith(f"{named} ({variable})")


def test_a_lease_shorter_than_an_attempt_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two workers, a receiver taking 12 s, total_timeout 20 s and a 5 s lease: the lease
    expired mid-attempt and the delivery was POSTed three times, recorded once."""
    monkeypatch.setenv("HARBORHOOK_TOTAL_TIMEOUT", "20")
    monkeypatch.setenv("HARBORHOOK_DELIVERY_LEASE_SECONDS", "5")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert "delivery_lease_seconds (HARBORHOOK_DELIVERY_LEASE_SECONDS)" in str(caught.value)
    assert "22 s" in str(caught.value)
    monkeypatch.setenv("HARBORHOOK_DELIVERY_LEASE_SECONDS", "22")
    assert load_settings().delivery_lease_seconds == 22


@pytest.mark.parametrize("name", ["harborhook.deliveries", "a", "x" * 64, "workers#ephemeral"])
def test_nsq_names_nsqd_accepts_are_accepted(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    monkeypatch.setenv("HARBORHOOK_WORKER_CHANNEL", name)
    assert load_settings().worker_channel == name
