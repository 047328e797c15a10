"""Refuse the most common passwords (ASVS V6.2.4), from a list bundled with the package.

`data/common-passwords.txt`: the 10,000 most frequent passwords of the zxcvbn password
list (zxcvbn 4.4.2, `lib/frequency_lists.js`, `passwords`, first 10,000 entries, lower-case;
MIT licence, see `data/NOTICE.md`). Read once, on first use; no network at run time.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files

COMMON_PASSWORDS_COUNT = 10_000


@cache
def common_passwords() -> frozenset[str]:
    text = files("nubo.identity").joinpath("data/common-passwords.txt").read_text("utf-8")
    return frozenset(line for line in text.splitlines() if line)


def is_common(password: str) -> bool:
    # The list is lower-case: "Password123" is as guessable as "password123".
    return password.casefold() in common_passwords()
