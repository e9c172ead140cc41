"""The `medperf-action` command line: one module per command group, all thin.

Each command turns its options into a call of a use case and shows the result; errors
become exit codes in one place (`errors.MainGroup`).

The command modules are imported when their command runs, not for `--help`: together
they pull in every layer, about 75 ms that `--help` and `validate` need not pay
(bench/startup.py). `COMMANDS` says where each lives and the one line `--help` shows for
it; a test checks those lines against the commands' own help.
"""

from __future__ import annotations

import importlib

import click

from medperf_action import __version__
from medperf_action.cli.errors import MainGroup

#: name -> (module:attribute, the line `medperf-action --help` shows; None: hidden)
COMMANDS: dict[str, tuple[str, str | None]] = {
    "validate": (
        "validate:validate",
        "Check an MLCube directory, a manifest, or a registry/config file.",
    ),
    "test": (
        "test:test_command",
        "Run the benchmark's workflow with MODEL in sandboxed containers.",
    ),
    "package": (
        "package:package_command",
        "Validate the MLCube at PATH, then write its assets folder for publishing.",
    ),
    "publish": (
        "publish:publish_command",
        "Publish the packaged assets as the assets of a GitHub release.",
    ),
    "submit": (
        "requests:submit_command",
        "Propose the published MLCube to the registry as mlcubes/<id>.yaml (a PR).",
    ),
    "associate": (
        "requests:associate_command",
        "Test against the benchmark, then request the association (a PR with the summary).",
    ),
    "benchmark": (
        "listings:benchmark",
        "Benchmarks of the registry (MedPerf's `medperf benchmark`).",
    ),
    "mlcube": ("listings:mlcube", "MLCubes of the registry (MedPerf's `medperf mlcube`)."),
    "association": (
        "listings:association",
        "Association requests (MedPerf's `medperf association`).",
    ),
    "registry": ("registry:registry", "Commands for the registry repository's own workflows."),
    "dataset": ("site:dataset", "A site's dataset (MedPerf's `medperf dataset`)."),
    "result": ("site:result", "A site's results (MedPerf's `medperf result`)."),
    "run": (
        "run:run_command",
        "Do what the GitHub event calls for (the action's default command).",
    ),
    "plan": (
        "run:plan_command",
        "Print a JSON matrix of benchmark x model pairs for `strategy.matrix`.",
    ),
    "action": ("run:action_command", None),
}


class CommandLine(MainGroup):
    """The top-level group, loading each command's module when the command runs."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module, attribute = COMMANDS[cmd_name][0].split(":")
        command = getattr(importlib.import_module(f"{__name__}.{module}"), attribute)
        assert isinstance(command, click.Command)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, text) for name, (_, text) in sorted(COMMANDS.items()) if text]
        limit = formatter.width - 6 - max(len(name) for name, _ in rows)
        with formatter.section("Commands"):
            formatter.write_dl(
                [
                    (name, click.Command(name, help=text).get_short_help_str(limit))
                    for name, text in rows
                ]
            )


@click.group(
    cls=CommandLine,
    context_settings={"help_option_names": ["-h", "--help"]},
    invoke_without_command=True,
    no_args_is_help=False,
)
@click.version_option(__version__, prog_name="medperf-action")
@click.pass_context
def main(ctx: click.Context) -> None:
    """GitOps for federated medical-AI benchmarks (MedPerf MLCubes).

    Validate an MLCube, run a benchmark's compatibility test in sandboxed Docker
    containers, publish the assets, and request association through pull requests
    to a registry repository.
    """
    if ctx.invoked_subcommand is None:  # no command: the help, as a result, on stdout
        click.echo(ctx.get_help())
