"""One module per command: add_parser(subparsers) registers it, with `run` as the parser's default."""


class CommandError(Exception):
    """A problem with the command's arguments or files; the CLI prints it as one line and exits 2."""
