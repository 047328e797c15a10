"""The words of an invoice line: stored as a kind and its parameters, worded in the reader's
language by the invoice page and its PDF (English in the API's `description`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.requests import Request

from nubo.models import InvoiceLineKind
from nubo.web import i18n
from nubo.web.forms import N_

WORDS = {
    InvoiceLineKind.subscription: N_("Subscription: %(dataset)s (%(month)s)"),
    InvoiceLineKind.purchase: N_("Purchase: %(dataset)s"),
}


def english(kind: InvoiceLineKind, params: dict[str, str]) -> str:
    """The stored `description`: the catalog's message id, filled in."""
    return WORDS[kind] % params


def describe(line: Any, gettext: Callable[[str], str]) -> str:
    """The line in the reader's language; a manual line, or one built before lines kept their
    kind and could not be read back, as it was written."""
    if line.kind is None or not line.params:
        return str(line.description)
    try:
        return gettext(WORDS[InvoiceLineKind(line.kind)]) % line.params
    except (KeyError, ValueError, TypeError):  # a parameter missing: the stored words
        return str(line.description)


def describer(request: Request) -> Callable[[Any], str]:
    """`describe` in the request's language, for a page."""
    gettext = i18n.translations(i18n.negotiate(request)).ugettext
    return lambda line: describe(line, gettext)
