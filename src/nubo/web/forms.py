"""Form handling shared by the pages: a rejected form is shown again with its error, after
the request's unit of work has rolled back."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from nubo.kit.errors import NuboError


def N_(message: str) -> str:
    """Marks a message for the catalogs; the template translates it when it is shown."""
    return message


# What a person is told for each coded error a form can meet; anything else is generic.
MESSAGES = {
    "invalid-credentials": N_("Email or password is wrong."),
    "too-many-requests": N_("Too many attempts. Wait a few minutes and try again."),
    "email-taken": N_("This email is already in use."),
    "wrong-password": N_("The current password is wrong."),
    "current-password-required": N_("Type your current password to confirm."),
    "validation-error": N_("Some fields are not valid. Check them and try again."),
    "last-admin": N_("This is the account's last administrator: add another one first."),
    "operator-outside-platform": N_("Operators belong to the platform account only."),
    "platform-account": N_("The platform account cannot be deleted."),
    "billing-run-in-progress": N_("This month is being closed already."),
    "invoice-not-open": N_("The invoice is no longer open."),
    "invalid-price": N_("The price is not valid for its currency."),
    "invalid-currency": N_("Unknown currency."),
    "invalid-month": N_("Give the month as YYYY-MM."),
}
GENERIC = N_("This could not be done. Try again.")
M = TypeVar("M", bound=BaseModel)


class FormRejected(NuboError):
    """Rendered by the panel's error handler as `template` with `context` and the error."""

    def __init__(self, template: str, context: dict[str, Any], status: int, message: str):
        super().__init__(message, code="form-rejected")
        self.status = status
        self.template = template
        self.context = {**context, "error": message}


@contextmanager
def form(template: str, context: dict[str, Any]) -> Iterator[None]:
    """Turns a coded error or invalid input into the same page shown again with a message."""
    try:
        yield
    except ValidationError as exc:
        fields = sorted({str(e["loc"][0]) for e in exc.errors() if e["loc"]})
        raise FormRejected(
            template, {**context, "invalid": fields}, 422, MESSAGES["validation-error"]
        ) from exc
    except FormRejected:
        raise
    except NuboError as exc:
        if exc.status == 404 or (exc.status == 403 and exc.code not in MESSAGES):
            raise  # another account's id, a wrong role: the 404 and 403 pages, as the API
        message = MESSAGES.get(exc.code, GENERIC)
        raise FormRejected(template, context, exc.status, message) from exc


def parse(model: type[M], data: dict[str, Any]) -> M:
    """Blank optional fields are absent, as a person leaves them."""
    return model.model_validate({k: v for k, v in data.items() if v not in ("", None)})
