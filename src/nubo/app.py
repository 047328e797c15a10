"""create_app(settings) -> FastAPI, with every router under /api."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from sqlalchemy.ext.asyncio import AsyncEngine

from nubo import __version__
from nubo.fleet.endpoints import fleet_router as fleet_overview_router
from nubo.fleet.endpoints import reprocessing_router
from nubo.fleet.endpoints import router as fleet_router
from nubo.flights.endpoints import routers as flights_routers
from nubo.identity.auth import needs_caller, require_bearer
from nubo.identity.endpoints import routers as identity_routers
from nubo.kit.db import create_engine, create_sessionmaker, engine_reader, engine_writer
from nubo.kit.edge import Precheck, RefuseNulMiddleware, guard_bodies
from nubo.kit.errors import PROBLEM_RESPONSES, install_error_handlers
from nubo.kit.routing import include_built
from nubo.marketplace.endpoints import routers as marketplace_routers
from nubo.ops.apidoc import install_openapi
from nubo.ops.docs import install_docs
from nubo.ops.endpoints import database_ready
from nubo.ops.endpoints import router as ops_router
from nubo.ops.metrics import Metrics, MetricsMiddleware
from nubo.platform import Platform
from nubo.runtime import AppState, install, running
from nubo.settings import Settings
from nubo.web.pages import install_panel
from nubo.web.session import accepts_session, bearer_or_session_at_edge
from nubo.webhooks.endpoints import router as webhooks_router


def api_router() -> APIRouter:
    api = APIRouter(prefix="/api", responses=PROBLEM_RESPONSES)
    api.include_router(ops_router)
    for router in identity_routers:
        api.include_router(router)
    for router in marketplace_routers:
        api.include_router(router)
    for router in flights_routers:
        api.include_router(router)
    api.include_router(fleet_router)
    api.include_router(fleet_overview_router)
    api.include_router(webhooks_router)
    api.include_router(reprocessing_router)
    return api


def edge_check(route: APIRoute, bearer: Precheck, bearer_or_session: Precheck) -> Precheck | None:
    """What the edge checks of a route's caller before reading its body."""
    if needs_caller(route.dependant):
        return bearer
    if accepts_session(route.dependant):
        return bearer_or_session
    return None


def bind_engine(app: FastAPI, engine: AsyncEngine) -> None:
    """Point every database entry of the app at `engine`: sessions and standalone statements."""
    app.state.engine = engine
    app.state.sessionmaker = create_sessionmaker(engine)
    app.state.read_connection = engine_reader(engine)
    app.state.write_connection = engine_writer(engine)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with running(app):
            yield
        await app.state.engine.dispose()

    app = FastAPI(
        title="Nubo",
        version=__version__,
        description="Bleed-health monitoring and the Nubo data panel.",
        lifespan=lifespan,
        docs_url=None,  # served by install_docs from the package's own assets
        redoc_url=None,
    )
    app.state = AppState()
    engine = create_engine(settings.resolved_database_url, pool_size=settings.db_pool_size)
    app.state.settings = settings
    bind_engine(app, engine)
    app.state.platform = Platform.build(settings)
    app.state.metrics = Metrics()
    app.state.readiness_checks = {"database": database_ready}
    install(app, settings)
    install_error_handlers(app)
    include_built(app, api_router)
    check_caller = require_bearer(app.state.platform)
    check_caller_or_session = bearer_or_session_at_edge(check_caller, settings)
    guard_bodies(
        app.routes,
        settings.max_json_body_bytes,
        lambda route: edge_check(route, check_caller, check_caller_or_session),
    )
    install_docs(app)
    install_openapi(app)
    install_panel(app)  # the HTML panel at /, after the API's error handlers it wraps
    app.add_middleware(RefuseNulMiddleware)
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)
    return app
