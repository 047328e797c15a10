"""Query parameters validated as one model in one call, documented as FastAPI documents
its own.

FastAPI parses each declared query parameter on every request (its kind, then its value,
one by one; for a query model, every field's kind again before the model): on a list of
eight parameters that was a tenth of the request. A route that takes `QueryModel(model)`
as a dependency, with `openapi_extra=dependency.openapi`, gets the model validated from the
query string at once, the same parameters documented, and the same 422: a
`RequestValidationError` whose locations start with `query` and name the parameter.
"""

# No `from __future__ import annotations`: FastAPI reads the dependency's `Request`
# annotation from an instance, which has no module globals to resolve a string against.

from typing import Any, Generic, TypeVar

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


class QueryModel(Generic[M]):
    """A dependency: the request's query string as a `model` (by the fields' aliases; a
    repeated parameter counts its last value, as FastAPI's do; others are ignored)."""

    def __init__(self, model: type[M]) -> None:
        self.model = model
        self.openapi: dict[str, Any] = {"parameters": parameters(model)}

    async def __call__(self, request: Request) -> M:
        try:
            return self.model.model_validate(dict(request.query_params))
        except ValidationError as exc:
            raise RequestValidationError(
                [{**error, "loc": ("query", *error["loc"])}
                 for error in exc.errors(include_url=False)]
            ) from None


def parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    """The model's fields as OpenAPI query parameters, as FastAPI writes its own (a null
    default left out, a title on each; enums and models referred to in the document's
    components, where the routes' other models have put them)."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    required = set(schema.get("required", ()))
    found = []
    for name, field in schema["properties"].items():
        field = {k: v for k, v in field.items() if k != "default" or v is not None}
        field.setdefault("title", name.replace("_", " ").title())  # Pydantic's, for a $ref
        found.append({"name": name, "in": "query", "required": name in required,
                      "schema": field})
    return found
