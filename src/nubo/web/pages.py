"""The panel's router: every domain's HTML routes, the language switch and static files."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from nubo.kit.routing import include_built
from nubo.web import i18n
from nubo.web.errors import install_html_errors
from nubo.web.headers import PanelHeadersMiddleware
from nubo.web.session import safe_next, secure_cookies, verify_csrf
from nubo.web.static import static_files

ONE_YEAR_S = 365 * 24 * 3600


def panel_router() -> APIRouter:
    """Not in the API's OpenAPI schema; every unsafe method checks Origin and CSRF token."""
    from nubo.fleet.pages import router as fleet_pages
    from nubo.flights.pages import router as flights_pages
    from nubo.identity.account_pages import router as account_pages
    from nubo.identity.backoffice_pages import router as accounts_backoffice
    from nubo.identity.pages import router as identity_pages
    from nubo.marketplace.backoffice_pages import router as datasets_backoffice
    from nubo.marketplace.billing_pages import router as billing_backoffice
    from nubo.marketplace.pages import router as marketplace_pages
    from nubo.webhooks.pages import install_notices

    install_notices()
    panel = APIRouter(
        include_in_schema=False,
        default_response_class=HTMLResponse,
        dependencies=[Depends(verify_csrf)],
    )
    panel.include_router(identity_pages)
    panel.include_router(fleet_pages)
    panel.include_router(flights_pages)
    panel.include_router(marketplace_pages)
    panel.include_router(account_pages)
    panel.include_router(accounts_backoffice)
    panel.include_router(datasets_backoffice)
    panel.include_router(billing_backoffice)
    panel.include_router(language_router)
    return panel


language_router = APIRouter()


@language_router.post("/language")
async def switch_language(
    request: Request,
    language: Annotated[str, Form(max_length=8)],
    next: Annotated[str, Form(max_length=2048)] = "/",
) -> RedirectResponse:
    """Remembered in a cookie for a year; an unknown language is the default one."""
    chosen = language if language in i18n.LANGUAGES else i18n.DEFAULT_LANGUAGE
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(
        i18n.LANGUAGE_COOKIE, chosen, max_age=ONE_YEAR_S, path="/", httponly=True,
        secure=secure_cookies(request.app.state.settings), samesite="lax",
    )
    return response


def install_panel(app: FastAPI) -> None:
    """The panel beside the API: its routes, static files, HTML errors and headers."""
    include_built(app, panel_router)
    app.mount("/static", static_files(), name="static")
    install_html_errors(app)
    app.add_middleware(PanelHeadersMiddleware)
