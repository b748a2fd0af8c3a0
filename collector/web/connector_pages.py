"""Save a connector from the web UI (admins): create one of a chosen type, edit it, disable
or enable it (``collector.connectors.saved``: the connectors file, secrets write-only in their
own files, every change audited). Problems name the field; nothing is written then."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import Response

from collector.connectors import CONNECTORS
from collector.connectors import saved as saved_connectors
from collector.errors import InvalidArgument, NotFound
from collector.web.routes import PREFIX, admin_user, csrf_user, redirect, render

router = APIRouter(
    prefix=PREFIX + "/onboarding/connectors",
    include_in_schema=False,
    dependencies=[Depends(admin_user)],
)
Field = Annotated[str, Form(max_length=200, pattern=r"^[^\x00]*$")]
Long = Annotated[str, Form(max_length=20000, pattern=r"^[^\x00]*$")]
LIST = PREFIX + "/onboarding/connectors"


def _form(
    request: Request, entry: dict[str, Any], *, create: bool, error: str = "", status: int = 200
) -> Response:
    return render(
        request,
        "onboarding_connector_form.html",
        {"entry": entry, "create": create, "error": error, "types": sorted(CONNECTORS)},
        status_code=status,
    )


@router.get("/new")
def connector_new(
    request: Request, type: Annotated[str, Query(max_length=40)] = "redmine"
) -> Response:
    if type not in CONNECTORS:
        raise InvalidArgument(f"type: must be one of {', '.join(sorted(CONNECTORS))}")
    saved_connectors.connectors_path(request.app.state.settings)  # inline config: say so now
    entry = {
        "name": "",
        "type": type,
        "options": "",
        "secrets": saved_connectors.secret_names(type),
        "stored": [],
        "disabled": False,
    }
    return _form(request, entry, create=True)


@router.get("/{name}/edit")
def connector_edit(request: Request, name: str) -> Response:
    return _form(
        request, saved_connectors.shown_entry(request.app.state.settings, name), create=False
    )


@router.post("/save")
async def connector_save(
    request: Request,
    user: Annotated[Any, Depends(csrf_user)],
    name: Field,
    type: Field,
    options: Long = "",
    create: Field = "",
) -> Response:
    settings = request.app.state.settings
    form = await request.form()
    is_new = create == "1"
    secret_fields = saved_connectors.secret_names(type) if type in CONNECTORS else ()
    secrets = {s: str(form.get(f"secret_{s}") or "") for s in secret_fields}
    name = name.strip()
    try:
        saved_connectors.save(
            request.app.state.store,
            settings,
            name=name,
            type_name=type,
            options=saved_connectors.parse_options(options),
            secrets=secrets,
            actor=f"web:{user.username}",
            create=is_new,
        )
    except (InvalidArgument, NotFound) as exc:
        stored: list[str] = []
        if not is_new:
            try:
                stored = saved_connectors.shown_entry(settings, name)["stored"]
            except (InvalidArgument, NotFound):
                stored = []
        entry = {
            "name": name,
            "type": type,
            "options": options,  # what was typed; secrets are never sent back
            "secrets": secret_fields,
            "stored": stored,
            "disabled": False,
        }
        return _form(request, entry, create=is_new, error=exc.detail, status=400)
    return redirect(f"{LIST}?saved={name}")


@router.post("/{name}/{change}")
def connector_disable_or_enable(
    request: Request,
    user: Annotated[Any, Depends(csrf_user)],
    name: str,
    change: Annotated[str, PathParam(pattern="^(disable|enable)$")],
) -> Response:
    saved_connectors.set_disabled(
        request.app.state.store,
        request.app.state.settings,
        name,
        change == "disable",
        f"web:{user.username}",
    )
    return redirect(LIST)
