"""A sweep trial's command line, built to survive Katib's metrics-collector rewrite.

Katib v0.19's pod webhook (StdOut and File collectors) replaces the primary
container's command with ``sh -c "<command and args joined with spaces>
1>/var/log/katib/metrics.log 2>&1 && echo completed > /var/log/katib/$$$$.pid"``.
It joins without quoting, and keeps only a literal leading ``sh -c`` (or
``bash -c``) as is. So a trial's container runs ``sh -c <one line>``, where the
line is the user's command with every word shell-quoted:

- joined with spaces, the line is still that one line, and Katib's redirection
  and ``&& echo completed`` attach to the user's command, the last one on it;
- the command is never ``exec``'d (``exec`` would replace the shell before
  Katib's marker runs, and the collector would wait for it);
- the code snapshot is unpacked by commands before it on the same line.

Kubernetes expands ``$(VAR)`` and turns ``$$`` into ``$`` in command and args
(after Katib's rewrite, which relies on it for ``$$$$``): every ``$`` of the
user's command is written ``$$``. Katib substitutes ``${trialParameters.x}``
in the trial template before any of that, inside the quotes, so a value lands
in the command verbatim (``Parameter`` refuses values that would end the quote).
"""

from __future__ import annotations

import shlex

from .entrypoint import UNPACK_STEPS

SHELL = ["sh", "-c"]
"""The prefix Katib's pod webhook leaves as it is."""


def placeholder(name: str) -> str:
    """How the trial template names a parameter: Katib substitutes the trial's value."""
    return "${trialParameters." + name + "}"


def shell_word(arg: str, parameters: list[str]) -> str:
    """``arg`` quoted for ``sh``, ``$`` escaped for Kubernetes, ``{name}`` of each of
    ``parameters`` turned into Katib's placeholder inside the quotes."""
    word = shlex.quote(arg).replace("$", "$$")
    for name in parameters:
        word = word.replace("{" + name + "}", placeholder(name))
    return word


def shell_line(command: list[str], parameters: list[str], unpack: bool) -> str:
    """The one line the trial's shell runs (see the module docstring)."""
    line = " ".join(shell_word(arg, parameters) for arg in command)
    return f"{UNPACK_STEPS}; {line}" if unpack else line


def trial_command(command: list[str], parameters: list[str], unpack: bool) -> list[str]:
    """The trial container's ``command``: ``sh -c`` and ``shell_line``."""
    return [*SHELL, shell_line(command, parameters, unpack)]
