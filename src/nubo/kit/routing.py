"""Routers analysed once per process, included in as many apps as the process builds."""

from __future__ import annotations

import copy
from collections.abc import Callable
from functools import cache

from fastapi import APIRouter, FastAPI
from starlette.routing import BaseRoute


@cache
def built_routes(build: Callable[[], APIRouter]) -> tuple[BaseRoute, ...]:
    """FastAPI analyses every endpoint's signature each time a router is included, which
    costs more than the rest of building an app; the analysis depends on no app or setting,
    so it is done once per `build`."""
    holder = APIRouter()
    holder.include_router(build())
    return tuple(holder.routes)


def include_built(app: FastAPI, build: Callable[[], APIRouter]) -> None:
    """Each app gets its own copy of every route, so wrapping a route for one app's settings
    leaves the other apps' alone."""
    app.router.routes.extend(copy.copy(route) for route in built_routes(build))
