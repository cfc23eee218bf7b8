"""The Typer application that every command group registers on."""

from __future__ import annotations

import sys

import typer

from ._output import CommandFailed, print_error

app = typer.Typer(
    name="asqla",
    help="asqla: the async SQLAlchemy data layer for FastAPI services.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _root(
    traceback: bool = typer.Option(
        False, "--traceback", help="Show the Python traceback when a command fails."
    ),
) -> None:
    """asqla: the async SQLAlchemy data layer for FastAPI services."""
    _state["traceback"] = traceback


_state: dict[str, bool] = {"traceback": False}


def main(argv: list[str] | None = None) -> None:
    """Run the ``asqla`` command line; the console-script entry point."""
    try:
        # Outside standalone mode click returns the code of `typer.Exit(n)`
        # instead of exiting with it.
        result = app(args=argv, standalone_mode=False)
    except CommandFailed as exc:
        if _state["traceback"]:
            raise
        print_error(str(exc), json_output=exc.json_output)
        sys.exit(exc.exit_code)
    except typer.Abort:
        print_error("Aborted.", json_output=False)
        sys.exit(1)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except Exception as exc:  # click usage errors and anything unexpected
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        if _state["traceback"]:
            raise
        print_error(
            f"{type(exc).__name__}: {exc}. Run again with --traceback for details.",
            json_output=False,
        )
        sys.exit(1)
    if isinstance(result, int) and result:
        sys.exit(result)
