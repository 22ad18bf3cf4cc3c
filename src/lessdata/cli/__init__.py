"""The ``lessdata`` command line: a thin layer over the Python API.

The core commands live in :mod:`lessdata.cli.core`, the labs' in :mod:`lessdata.cli.scale`,
:mod:`lessdata.cli.theory` and :mod:`lessdata.cli.icl`; this module mounts them and turns a
:class:`~lessdata.errors.LessdataError` into one line on stderr with exit code 2, naming the
flags where the library named its parameters (:mod:`lessdata.cli.errors`).
"""

from __future__ import annotations

import sys

import typer

from lessdata.cli.core import core_app
from lessdata.cli.errors import cli_message
from lessdata.cli.icl import icl_app
from lessdata.cli.index import index_app
from lessdata.cli.scale import scale_app
from lessdata.cli.theory import theory_app
from lessdata.errors import LessdataError

app = typer.Typer(
    name="lessdata",
    help=(
        "Train on less data: score every example, keep the ones a model needs.\n\n"
        "Typical flow: `lessdata score` to see per-example difficulty, `lessdata prune` to "
        "keep a budget with a policy, `lessdata dedup` to drop near duplicates, and "
        "`lessdata inspect` to look at a manifest. Inputs: .npy/.npz arrays, Parquet/JSONL/"
        "CSV with a text or embedding column, a Hugging Face dataset folder, or "
        "builtin:digits."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
for command in core_app.registered_commands:
    app.registered_commands.append(command)
app.add_typer(scale_app, name="scale")
app.add_typer(theory_app, name="theory")
app.add_typer(icl_app, name="icl")
app.add_typer(index_app, name="index")


def main() -> None:
    """Entry point: run the app, turning user errors into one line and exit code 2."""
    try:
        app(standalone_mode=False)
    except LessdataError as exc:
        typer.echo(f"error: {cli_message(exc, typer.main.get_command(app))}", err=True)
        sys.exit(2)
    except (typer.Abort, KeyboardInterrupt):
        typer.echo("aborted", err=True)
        sys.exit(130)
    except typer.exceptions.TyperException as exc:  # usage errors: unknown or missing options
        show = getattr(exc, "show", None)
        if show is None:
            raise
        show()
        sys.exit(getattr(exc, "exit_code", 2))


if __name__ == "__main__":
    main()
