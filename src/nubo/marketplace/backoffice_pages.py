"""HTML routes of the back office for the catalogue (operators). Thin: the same services as
/api/datasets; the data file goes up by the page's script to POST /api/datasets/{id}/file."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import RedirectResponse, Response

from nubo.kit.db import Session
from nubo.kit.pagination import Pagination, build_page
from nubo.marketplace import datasets, money, repository
from nubo.marketplace.schemas import DatasetCreate, DatasetOut, DatasetUpdate
from nubo.models import Dataset
from nubo.web.forms import N_, form, parse
from nubo.web.session import SignedInOperator
from nubo.web.templating import render

router = APIRouter(prefix="/backoffice")
Text = Annotated[str, Form(max_length=10_000)]
DatasetId = Annotated[uuid.UUID, Path(alias="datasetId")]
LIST = "backoffice/datasets.html"
DETAIL = "backoffice/dataset.html"
DONE = {"created": N_("Dataset created. Upload its data file below."), "saved": N_("Saved."),
        "deleted": N_("Dataset deleted."), "uploaded": N_("File uploaded.")}
BLANK = {"name": "", "description": "", "location": "", "price": "", "currency": "BRL",
         "category": "", "format": ""}


def _fields(d: Dataset) -> dict[str, str]:
    return {"name": d.name, "description": d.description, "location": d.location,
            "price": money.format_minor(d.price_minor, d.currency), "currency": d.currency,
            "category": d.category or "", "format": d.format or ""}


@router.get("/datasets")
async def datasets_page(
    request: Request, user: SignedInOperator, session: Session, page: Pagination,
    q: Annotated[str, Query(max_length=200)] = "", done: str | None = None,
) -> Response:
    """The catalogue, newest first, searched as GET /api/datasets?q= searches it."""
    rows = await datasets.search(session, page, q=q or None, sort="-created_at")
    items, cursor = build_page(rows, page, lambda d: repository.sort_key("-created_at", d))
    return await render(request, LIST, {
        "datasets": [DatasetOut.of(d) for d in items], "next_cursor": cursor, "q": q,
        "fields": BLANK, "done": DONE.get(done or ""),
    })


@router.post("/datasets")
async def create_dataset(
    request: Request, user: SignedInOperator, session: Session,
    name: Text = "", description: Text = "", location: Text = "", price: Text = "",
    currency: Text = "BRL", category: Text = "", format: Text = "",
) -> Response:
    """POST /api/datasets; the file is uploaded on the dataset's page next."""
    fields = {"name": name, "description": description, "location": location, "price": price,
              "currency": currency, "category": category, "format": format}
    context: dict[str, Any] = {"datasets": [], "next_cursor": None, "q": "", "fields": fields,
                               "done": None}
    with form(LIST, context):
        created = await datasets.create(session, user.principal, parse(DatasetCreate, fields))
    return RedirectResponse(f"/backoffice/datasets/{created.id}?done=created", status_code=303)


async def _detail(request: Request, dataset: Dataset) -> dict[str, Any]:
    return {"dataset": DatasetOut.of(dataset), "fields": _fields(dataset),
            "max_bytes": request.app.state.settings.max_upload_bytes}


@router.get("/datasets/{datasetId}")
async def dataset_page(
    request: Request, dataset_id: DatasetId, user: SignedInOperator, session: Session,
    done: str | None = None,
) -> Response:
    """Edit, upload the data file (with its progress), delete."""
    dataset = await datasets.get(session, dataset_id)
    context = await _detail(request, dataset)
    return await render(request, DETAIL, {**context, "done": DONE.get(done or "")})


@router.post("/datasets/{datasetId}")
async def edit_dataset(
    request: Request, dataset_id: DatasetId, user: SignedInOperator, session: Session,
    name: Text = "", description: Text = "", location: Text = "", price: Text = "",
    currency: Text = "BRL", category: Text = "", format: Text = "",
) -> Response:
    """PUT /api/datasets/{datasetId}; a blank category or format clears it."""
    dataset = await datasets.get(session, dataset_id)
    fields = {"name": name, "description": description, "location": location, "price": price,
              "currency": currency, "category": category, "format": format}
    context = {**await _detail(request, dataset), "fields": fields, "done": None}
    with form(DETAIL, context):
        data = DatasetUpdate.model_validate(
            {**parse(DatasetUpdate, fields).model_dump(exclude_unset=True),
             "category": category or None, "format": format or None}
        )
        await datasets.update(session, dataset_id, data)
    return RedirectResponse(f"/backoffice/datasets/{dataset_id}?done=saved", status_code=303)


@router.post("/datasets/{datasetId}/delete")
async def delete_dataset(
    request: Request, dataset_id: DatasetId, user: SignedInOperator, session: Session,
) -> Response:
    """DELETE /api/datasets/{datasetId}: its consequences are stated beside the button."""
    await datasets.delete(session, dataset_id)
    return RedirectResponse("/backoffice/datasets?done=deleted", status_code=303)
