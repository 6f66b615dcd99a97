"""The `mmdiag` command: a thin dispatcher to subcommands implemented across the library.

Subcommands are looked up lazily ("module:function", resolved like a DDP rank's stage by
`mmdiag.workflow.resolve`) so `mmdiag --help` and light commands never import torch. Each function takes its
own argv list and returns an exit code.
"""

from __future__ import annotations

import sys

from mmdiag.errors import MmdiagError
from mmdiag.workflow import resolve

# name -> ("module:function", one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "validate-data": ("mmdiag.data.validate:main", "check a dataset folder against the BYO format"),
    "generate-synthetic": ("mmdiag.data.synthetic.generate:main", "generate the embedded synthetic dataset"),
    "write-dvc": ("mmdiag.dvc_yaml:main", "generate dvc.yaml from the Snakemake DAG (--check: fail on drift)"),
    "write-schema": ("mmdiag.config.schema:main", "regenerate config/schema/config.schema.yaml from the library"),
    "check-config": ("mmdiag.cli:check_config", "load config files as a run would and report the first problem"),
}


def check_config(argv: list[str]) -> int:
    """`mmdiag check-config [FILE ...]`: config/config.yaml + FILEs, validated and checked (mmdiag.config.checks)."""
    from mmdiag.config import load_config

    if any(a in {"-h", "--help"} for a in argv):
        print("usage: mmdiag check-config [CONFIG.yaml ...]  (config/config.yaml is always the first layer)")
        return 0
    load_config("config/config.yaml", *argv)
    print(f"ok: {' + '.join(['config/config.yaml', *argv])}")
    return 0


def _usage() -> str:
    lines = ["usage: mmdiag <command> [options]", "", "commands:"]
    width = max(len(n) for n in COMMANDS)
    lines += [f"  {name:<{width}}  {help_}" for name, (_, help_) in sorted(COMMANDS.items())]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `mmdiag` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in {"-h", "--help"}:
        print(_usage())
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"mmdiag: unknown command '{name}'\n\n{_usage()}", file=sys.stderr)
        return 2
    try:
        return int(resolve(COMMANDS[name][0])(rest) or 0)
    except MmdiagError as exc:
        print(f"mmdiag {name}: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
