"""The `codeswap` command: one entry point for every command line (installed by `pip install -e .`,
which scripts/setup.sh runs). Each subcommand is the module's own command line:

    codeswap swap SOURCE TARGET -o OUT.png [options]    = python -m pipelines.swap
    codeswap video SOURCE VIDEO -o OUT.mp4 [options]    = python -m pipelines.video
    codeswap sample FAMILY -n 16 -o GRID.png [options]  = python -m pipelines.sample
    codeswap check FILE [--json]                        = python -m pipelines.provenance
    codeswap app                                        = python app.py (the web app)

`codeswap SUBCOMMAND --help` lists each one's options.
"""

from __future__ import annotations

import importlib
import sys

COMMANDS = {"swap": "pipelines.swap", "video": "pipelines.video", "sample": "pipelines.sample", "check": "pipelines.provenance"}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__.strip())
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command == "app":
        import app  # app.py beside this file (both installed as top-level modules of the project)

        app.main()
        return 0
    if command not in COMMANDS:
        print(f"codeswap: unknown command {command!r}; choose from {', '.join([*COMMANDS, 'app'])}", file=sys.stderr)
        return 2
    sys.argv[0] = f"codeswap {command}"  # so each command's usage line reads as typed
    return importlib.import_module(COMMANDS[command]).main(rest)


if __name__ == "__main__":
    sys.exit(main())
