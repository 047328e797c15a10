"""What the panel shows of webhooks: a notice to an account's admins on every page while
one of its endpoints is disabled for failing."""

from __future__ import annotations

from fastapi import Request

from nubo.identity.principal import Principal
from nubo.kit.db import unit_of
from nubo.models import Role
from nubo.web.forms import N_
from nubo.web.templating import NOTICES, Notice
from nubo.webhooks import repository

DISABLED = N_(
    "The webhook endpoint %(url)s was disabled after failing for days. Fix the receiver, "
    "then enable it again (PATCH /api/webhooks/{endpointId} with enabled true)."
)


async def disabled_endpoints(request: Request, user: Principal) -> list[Notice]:
    if user.role is not Role.admin:
        return []
    unit = unit_of(request)
    if unit is not None:  # a page's unit of work is open while it renders: one query more
        urls = await repository.failing_endpoints(unit, user.account_id)
    else:
        async with request.app.state.read_connection() as conn:
            urls = await repository.failing_endpoints(conn, user.account_id)
    return [Notice(DISABLED, {"url": url}) for url in urls]


def install_notices() -> None:
    if disabled_endpoints not in NOTICES:
        NOTICES.append(disabled_endpoints)
