"""Errors in the CLI's words: the library names its parameters; the CLI shows its flags.

A :class:`~lessdata.errors.LessdataError` whose message starts with its ``param``
(``seed must be ...``) is shown as ``--seed must be ...``; parameters named in backticks
(`` `label_column` ``) become their flags (``--label-column``). A name the CLI has no flag
of its own for, but that a metric takes, is a ``--metric-option``.
"""

from __future__ import annotations

import re
from typing import Any

from lessdata.errors import LessdataError

#: Python parameters whose flag is not their name with dashes
SPECIAL_FLAGS = {
    "threshold": "--jaccard",
    "metrics": "--metric",
    "policies": "--policy",
    "method": "--method",
    "data": "INPUT",
    "n_prompts": "--prompts",
    "metric_options": "--metric-option",
    "dedup_options": "the dedup options",
    "method_options": "the dedup options",
    "out_dir": "--out",
}
_BACKTICKED = re.compile(r"`([A-Za-z_][A-Za-z0-9_]*)`")


def flags_of(command: Any) -> dict[str, str]:
    """Every option of the click ``command`` (typer's, as ``typer.main.get_command`` gives)
    and its sub-commands: Python name → its long flag."""
    found: dict[str, str] = {}
    for param in command.params:
        if getattr(param, "param_type_name", "") == "option" and param.name:
            longs = [opt for opt in param.opts if opt.startswith("--")]
            if longs:
                found.setdefault(param.name, longs[0])
    if hasattr(command, "commands"):
        for sub in command.commands.values():
            for name, flag in flags_of(sub).items():
                found.setdefault(name, flag)
    return found


def flag_for(name: str, flags: dict[str, str]) -> str | None:
    """The flag that sets Python parameter ``name`` (None: the CLI has no flag for it)."""
    if name in SPECIAL_FLAGS:
        return SPECIAL_FLAGS[name]
    if name in flags:
        return flags[name]
    from lessdata.metrics import REGISTRY

    if any(name in metric.options for metric in REGISTRY.values()):
        return f"--metric-option {name}"
    return None


def cli_message(exc: LessdataError, command: Any) -> str:
    """The message of ``exc`` with parameter names shown as the flags of ``command``."""
    flags = flags_of(command)
    message = str(exc)
    param = exc.param
    if param and message.startswith(param) and not message[len(param) :][:1].isalnum():
        shown = flag_for(param, flags)
        if shown is not None:
            message = shown + message[len(param) :]

    def replace(match: re.Match[str]) -> str:
        shown = flag_for(match.group(1), flags)
        return shown if shown is not None else match.group(1)

    return _BACKTICKED.sub(replace, message)
