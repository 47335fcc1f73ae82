import difflib


class UserError(Exception):
    """Bad input from the user: the CLI prints it as one line and exits with status 2."""


def expected(name: str, names) -> str:
    """What an unknown `name` could have meant: its close matches among `names` (a typo), else all of them."""
    close = difflib.get_close_matches(name, sorted(names), n=3, cutoff=0.75)  # best first
    return f"did you mean {' or '.join(close)}?" if close else f"expected one of {', '.join(sorted(names))}"
