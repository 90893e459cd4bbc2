"""`--replay`, `--capture` and `--capture-on-failure` on the commands that make a verdict.

Added to the click commands when gate/cli.py loads them, so the commands themselves stay as they are:
the wrapper swaps what the command reads (kubeconfig, spec, settings, Kargo API) for the replayed
world, or records what it reads, then calls the command's own callback.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import click

REPLAYABLE = ("verify", "precheck", "promote", "diagnose", "status")
CAPTURING = ("verify", "precheck", "promote")
_SECRET_PARAMS = ("kargo_token",)


def attach(cmd: click.Command, name: str) -> click.Command:
    """Add the options to `cmd` (once) and wrap its callback."""
    if name not in REPLAYABLE or getattr(cmd, "_capture_options", False):
        return cmd
    cmd.params.append(click.Option(
        ["--replay"], type=click.Path(dir_okay=False), metavar="FILE",
        help="Run against a capture (gate capture, --capture-on-failure) offline, pinned to its time: "
             "the same verdict as the captured run." + (" Runs the precheck only; creates nothing."
                                                      if name == "promote" else "")))
    if name in CAPTURING:
        cmd.params += [
            click.Option(["--capture-on-failure"], type=click.Path(dir_okay=False), metavar="FILE",
                         envvar="GATE_CAPTURE_ON_FAILURE",
                         help="When the verdict is not PASS, write the world this run saw here (a replayable "
                              "capture, secrets never copied); named in the reports."),
            click.Option(["--capture", "capture_always"], type=click.Path(dir_okay=False), metavar="FILE",
                         help="Write the world this run saw here, whatever the verdict."),
            click.Option(["--redact", "redact_patterns"], multiple=True, metavar="REGEX",
                         help="Also replace what matches REGEX in every string of the capture (repeatable)."),
            click.Option(["--keep-env"], multiple=True, metavar="NAME",
                         help="Keep this pod env variable's value in the capture (dropped by default; "
                              "repeatable)."),
        ]
    original = cmd.callback
    assert original is not None

    def callback(**kwargs: Any) -> Any:
        replay = kwargs.pop("replay", None)
        on_failure = kwargs.pop("capture_on_failure", None)
        always = kwargs.pop("capture_always", None)
        patterns = kwargs.pop("redact_patterns", ()) or ()
        keep_env = kwargs.pop("keep_env", ()) or ()
        if replay and (on_failure or always):
            raise click.UsageError("--replay reads a capture; it cannot also write one")
        if replay:
            return _replay(name, original, kwargs, replay)
        if on_failure or always:
            return _record(name, original, kwargs, always or on_failure, not always, patterns, keep_env)
        return original(**kwargs)

    cmd.callback = callback
    cmd._capture_options = True  # type: ignore[attr-defined]
    return cmd


def command_line(name: str, kwargs: dict[str, Any]) -> str:
    """The command as run, rebuilt from its options (credentials left out), for the capture's header."""
    words = ["gate", name]
    for key, value in kwargs.items():
        if key in _SECRET_PARAMS or value in (None, False, (), "") or key == "poll_interval":
            continue
        flag = "--" + key.removesuffix("_path").replace("_", "-")
        words += [flag] if value is True else [flag, ",".join(map(str, sorted(value))) if isinstance(value, set)
                                               else str(value)]
    return " ".join(words)


def _record(name: str, original: Callable[..., Any], kwargs: dict[str, Any], path: str, only_failure: bool,
            patterns: tuple[str, ...], keep_env: tuple[str, ...]) -> Any:
    from gate.capture import tap
    from gate.capture.scrub import Scrubber
    from gate.capture.write import Output, RunRecorder, default_file
    from gate.options import report_path_cb

    report_path_cb(click.get_current_context(), click.Option(["--capture"]), path)
    scrub = _scrubber(Scrubber, patterns, keep_env)
    out = Output(path, only_failure, command_line(name, kwargs),
                 default_file(kwargs.get("spec"), "GATE_SPEC", "gate.yaml"),
                 default_file(kwargs.get("config"), "GATE_CONFIG", ".gitops-config.yaml"), scrub)
    if "watch" in kwargs and name == "verify":
        kwargs["watch"] = False  # every list is read by a request the capture sees (a watch's events are not)
    with tap.recording(RunRecorder(out)):
        return original(**kwargs)


def _scrubber(cls: Any, patterns: tuple[str, ...], keep_env: tuple[str, ...]) -> Any:
    import re

    try:
        return cls(patterns, keep_env)
    except re.error as exc:
        raise click.BadParameter(f"not a regular expression: {exc}", param_hint="--redact") from None


def _replay(name: str, original: Callable[..., Any], kwargs: dict[str, Any], path: str) -> Any:
    from gate.capture.replay import describe, replaying

    with replaying(path) as world:
        kwargs["kubeconfig"], kwargs["context"] = world.kubeconfig, None
        for key in ("spec", "config"):
            mine = getattr(world, key)
            if key in kwargs and mine and not (kwargs.get(key) and os.path.isfile(str(kwargs[key]))):
                kwargs[key] = mine
        if "kargo_address" in kwargs:
            kwargs.update(kargo_address=world.kargo_address, kargo_token=world.kargo_token,
                          kargo_ca=world.ca_file if world.kargo_address else None, insecure_skip_tls_verify=False)
            if kwargs.get("via") == "cli":
                kwargs["via"] = "api"
        if name == "verify":
            kwargs["watch"] = False
        if name in ("diagnose", "status"):
            click.echo(f"Replay: {describe(world.header, path)}", err=kwargs.get("output") == "json")
        if name == "promote":
            from gate.kargo.commands import precheck

            click.echo("gate promote --replay: the precheck only, against the capture; nothing is created",
                       err=True)
            allowed = {p.name for p in precheck.params}
            return _unwrapped(precheck)(**{k: v for k, v in kwargs.items() if k in allowed})
        return original(**kwargs)


def _unwrapped(cmd: click.Command) -> Callable[..., Any]:
    return cmd.callback  # type: ignore[return-value]
