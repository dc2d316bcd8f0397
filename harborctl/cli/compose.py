"""harborctl compose generate|overlay|check: the compose stack's files, without a Docker engine."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from harborctl.cli.options import JsonFlag
from harborctl.cli.output import console, emit, note

if TYPE_CHECKING:
    from harborctl.stack.compose_check import CheckResult

app = typer.Typer(
    help="The compose stack (deploy/docker): generate its files, overlay your alert receivers "
    "and alerting config, check it all without a Docker engine.",
    no_args_is_help=True,
)


@app.command("generate")
def generate(
    out: Path | None = typer.Option(
        None, "--out", help="Directory to write to (default: deploy/docker of the checkout)."
    ),
    as_json: JsonFlag = False,
) -> None:
    """Write the committed files of the compose stack from the built-in defaults.

    docker-compose.yml (from templates/compose/), prometheus/prometheus.yml,
    prometheus/rules/*.yml and alertmanager/alertmanager.yml (no receivers).
    Your own config and receivers go elsewhere: `harborctl compose overlay`.
    """
    from harborctl.stack.compose_file import (
        default_compose_files,
        deploy_dir,
        write_compose_files,
    )

    directory = out or deploy_dir()
    files = write_compose_files(directory, default_compose_files())
    data = {"directory": str(directory), "files": [str(path) for path in files]}

    def human() -> None:
        for path in files:
            console.print(str(path), highlight=False)

    emit(data, as_json, human)


@app.command("overlay")
def overlay(as_json: JsonFlag = False) -> None:
    """Write your overlay (under <state_dir>/compose/); print the command using it.

    It mounts the Prometheus rules from your `slo:`/`alerting:` config and an
    alertmanager.yml with your receivers (`harborctl alerts set-*`). Each
    receiver's secret stays in its 0600 file and reaches Alertmanager as a
    compose secret. Run it again after changing either.
    """
    from harborctl.settings import load_settings
    from harborctl.stack.compose_overlay import compose_argv, write_overlay

    settings = load_settings()
    written = write_overlay(settings)
    command = compose_argv(settings, "up", "-d", "--build", "--wait")
    data: dict[str, Any] = {
        "overlay": str(written.compose_file),
        "files": [str(written.directory / name) for name in written.files],
        "secrets": {name: str(path) for name, path in written.secrets.items()},
        "command": command,
    }

    def human() -> None:
        console.print(f"overlay  {written.compose_file}", highlight=False)
        for name, path in written.secrets.items():
            console.print(f"secret   {name} <- {path}", highlight=False)
        console.print("start the stack with:", highlight=False)
        console.print("  " + " ".join(command), highlight=False, soft_wrap=True)

    emit(data, as_json, human)


def _result_dict(result: CheckResult) -> dict[str, Any]:
    return {
        "check": result.name,
        "ok": result.ok,
        "skipped": result.skipped,
        "problems": list(result.problems),
        "detail": result.detail,
    }


@app.command("check")
def check(
    with_overlay: bool | None = typer.Option(
        None,
        "--overlay/--no-overlay",
        help="Check your overlay on top of the committed file (default: when it was written).",
    ),
    as_json: JsonFlag = False,
) -> None:
    """Validate the stack as far as it goes without a Docker engine; exit 1 on a problem.

    The compose files go through the loader Docker Compose itself uses
    (harborhook-compose-check, --strict), then: images pinned to versions,
    ports on 127.0.0.1, every mounted file present, start order by
    healthchecks, the Prometheus and Alertmanager configs through promtool
    and amtool as the containers see them, Grafana's provisioning resolved.
    """
    from harborctl.settings import load_settings
    from harborctl.stack.compose_check import check_compose
    from harborctl.stack.compose_file import deploy_dir
    from harborctl.stack.compose_overlay import compose_files

    settings = load_settings()
    overlay_file = compose_files(settings)[-1]
    use_overlay = overlay_file.exists() if with_overlay is None else with_overlay
    files = compose_files(settings, overlay=use_overlay)
    roots = [deploy_dir().parent.parent]
    if use_overlay:
        roots += [settings.layout.root]
    results = check_compose(files, deploy_dir(), roots)
    failed = [r for r in results if not r.ok]
    data = {"files": [str(f) for f in files], "ok": not failed}
    data["checks"] = [_result_dict(r) for r in results]

    def human() -> None:
        console.print(
            "checking " + " + ".join(str(f) for f in files), highlight=False, soft_wrap=True
        )
        for result in results:
            if result.skipped:
                note(f"skip  {result.name}: {result.skipped}")
            elif result.ok:
                console.print(f"ok    {result.name}: {result.detail}", highlight=False)
            else:
                for problem in result.problems:
                    console.print(f"FAIL  {result.name}: {problem}", highlight=False)

    emit(data, as_json, human)
    if failed:
        raise typer.Exit(1)
