"""Onboarding in the web UI (``/ui/onboarding``, admins only): create a client, create and
revoke its agent tokens (shown once, with copy-paste install commands for Linux and Windows:
the scripts the collector serves at ``/install/agent.sh`` and ``/install/agent.ps1``), upload, validate and apply its contract (problems at file:line:col from
the contract loader), test a connector with a clearly marked ticket that is closed right away
(``collector.connectors.probe``), and reach the failed deliveries (management → connectors).

Every handler depends on :func:`collector.web.routes.admin_user` (403 for staff and client
viewers); forms also on :func:`collector.web.routes.csrf_user`.
"""

from __future__ import annotations

from typing import Annotated, Any

import yaml
from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi import Path as PathParam
from fastapi.responses import Response

from agent.yamlsource import ConfigError, YamlDocument
from collector import admin, timeutil
from collector.connectors import CONNECTORS, build_connector, parse_connector_config
from collector.connectors.probe import probe
from collector.contracts import service as contracts
from collector.contracts.files import parse_document
from collector.contracts.store import contract_row
from collector.errors import AlreadyExists, InvalidArgument, NotFound
from collector.install_scripts import collector_url, install_commands
from collector.web import queries
from collector.web.access import Scope
from collector.web.routes import PREFIX, admin_user, csrf_user, redirect, render

router = APIRouter(
    prefix=PREFIX + "/onboarding", include_in_schema=False, dependencies=[Depends(admin_user)]
)

NameParam = Annotated[str, PathParam(max_length=100, pattern=r"^[^\x00/]*$")]
TokenIdParam = Annotated[int, PathParam(ge=1, le=2**53)]
Text = Annotated[str, Form(max_length=200, pattern=r"^[^\x00]*$")]
MAX_UPLOAD = 256 * 1024
WEB_SOURCE = "web"


def _client_page(
    request: Request,
    name: str,
    *,
    new_token: dict[str, Any] | None = None,
    contract: dict[str, Any] | None = None,
    status: int = 200,
) -> Response:
    store = request.app.state.store
    with store.read() as conn:
        client = queries.client_by_name(conn, Scope(None), name)
        row = contract_row(conn, client.id)
    tokens = [t for t in admin.list_tokens(store, name) if t.kind == "agent"]
    files = getattr(request.app.state, "contract_files", None)
    managed = files.managed() if files is not None else set()
    return render(
        request,
        "onboarding_client.html",
        {
            "client": client,
            "tokens": tokens,
            "new_token": new_token,
            "contract_row": row,
            "managed_by_file": row.source if row is not None and row.source in managed else None,
            "contract": contract or {"text": "", "filename": "contract.yaml"},
            "collector_url": collector_url(request),
        },
        status_code=status,
    )


@router.get("")
def onboarding_home(request: Request) -> Response:
    store = request.app.state.store
    with store.read() as conn:
        rows = queries.list_clients(conn, Scope(None))
    return render(
        request,
        "onboarding.html",
        {"rows": rows, "error": "", "typed": "", "connectors": _connector_names(request)},
    )


@router.post("/clients")
def client_create(
    request: Request, user: Annotated[Any, Depends(csrf_user)], name: Text
) -> Response:
    name = name.strip()
    try:
        if not name:
            raise InvalidArgument("Name: give the client a name")
        admin.create_client(request.app.state.store, name)
    except (InvalidArgument, AlreadyExists) as exc:
        from collector.errors import status_for  # the one HTTP status table

        with request.app.state.store.read() as conn:
            rows = queries.list_clients(conn, Scope(None))
        return render(
            request,
            "onboarding.html",
            {
                "rows": rows,
                "error": exc.detail,
                "typed": name,
                "connectors": _connector_names(request),
            },
            status_code=status_for(exc),
        )
    return redirect(f"{PREFIX}/onboarding/clients/{name}")


@router.get("/clients/{name}")
def client_onboarding(request: Request, name: NameParam) -> Response:
    return _client_page(request, name)


@router.post("/clients/{name}/tokens")
def token_create(
    request: Request,
    name: NameParam,
    user: Annotated[Any, Depends(csrf_user)],
    label: Text = "",
    site: Text = "",
) -> Response:
    with request.app.state.store.read() as conn:
        queries.client_by_name(conn, Scope(None), name)
    info, token = admin.create_token(request.app.state.store, client=name, name=label.strip())
    # Shown once, on this response only (no-store): the store keeps its hash.
    return _client_page(
        request,
        name,
        new_token={
            "id": info.id,
            "token": token,
            "site": site.strip() or "default",
            "commands": install_commands(collector_url(request), token, site.strip()),
        },
    )


@router.post("/clients/{name}/tokens/{token_id}/revoke")
def token_revoke(
    request: Request,
    name: NameParam,
    token_id: TokenIdParam,
    user: Annotated[Any, Depends(csrf_user)],
) -> Response:
    store = request.app.state.store
    tokens = {t.id for t in admin.list_tokens(store, name) if t.kind == "agent"}
    if token_id not in tokens:
        raise NotFound(f"client {name!r} has no agent token with id {token_id}")
    admin.revoke_token(store, token_id)
    return redirect(f"{PREFIX}/onboarding/clients/{name}")


@router.post("/clients/{name}/contract")
async def contract_upload(
    request: Request,
    name: NameParam,
    user: Annotated[Any, Depends(csrf_user)],
    action: Annotated[str, Form(max_length=10, pattern=r"^(validate|apply)$")] = "validate",
    text: Annotated[str, Form(max_length=MAX_UPLOAD)] = "",
    file: Annotated[UploadFile | None, File()] = None,
) -> Response:
    filename = "contract.yaml"
    if file is not None and file.filename:
        raw = await file.read(MAX_UPLOAD + 1)
        if len(raw) > MAX_UPLOAD:
            raise InvalidArgument(f"file: at most {MAX_UPLOAD // 1024} KiB")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidArgument("file: not UTF-8 text") from None
        filename = file.filename
    shown = {"text": text, "filename": filename}
    problems: list[str] = []
    parsed = None
    if not text.strip():
        problems = [f"{filename}: empty; paste or upload a contract file"]
    else:
        try:
            doc = YamlDocument(text, filename)
        except ConfigError as exc:
            problems = list(exc.problems)
        else:
            parsed, problems = parse_document(doc)
    if parsed is not None and parsed.client != name:
        problems = [
            f"{filename}: client: the file is the contract of {parsed.client!r}, not {name!r}"
        ]
        parsed = None
    if problems or parsed is None:
        return _client_page(request, name, contract={**shown, "problems": problems}, status=400)
    if action == "validate":
        return _client_page(request, name, contract={**shown, "valid": True})
    files = getattr(request.app.state, "contract_files", None)
    managed = files.managed() if files is not None else set()
    with request.app.state.store.write() as conn:
        version = contracts.apply(
            conn,
            parsed,
            source=WEB_SOURCE,
            actor=user.username,
            now=timeutil.now(),
            managed=managed,
        )
    return _client_page(request, name, contract={**shown, "applied": version})


# ---------------------------------------------------------------------- connectors


def _connector_names(request: Request) -> list[dict[str, Any]]:
    config = request.app.state.settings.connectors_config()
    return [
        {
            "name": n,
            "type": c.type,
            "clients": [cl for cl in config.clients if n in config.clients[cl]],
            "disabled": n in config.disabled,
        }
        for n, c in config.connectors.items()
    ]


@router.get("/connectors")
def connectors_page(request: Request) -> Response:
    with request.app.state.store.read() as conn:
        options = queries.client_options(conn, Scope(None))
    return render(
        request,
        "onboarding_connectors.html",
        {
            "connectors": _connector_names(request),
            "connector_types": sorted(CONNECTORS),
            "clients": options,
            "result": None,
            "typed": "",
        },
    )


@router.post("/connectors/test")
def connector_test(
    request: Request,
    user: Annotated[Any, Depends(csrf_user)],
    client: Text,
    connector: Text = "",
    definition: Annotated[str, Form(max_length=20000)] = "",
) -> Response:
    """Test a configured connector (``connector``) or one defined in the form (YAML)."""
    with request.app.state.store.read() as conn:
        options = queries.client_options(conn, Scope(None))
        queries.client_by_name(conn, Scope(None), client)
    error, result, status = "", None, 200
    try:
        if definition.strip():
            try:
                raw = yaml.safe_load(definition)
            except yaml.YAMLError as exc:
                mark = getattr(exc, "problem_mark", None)
                where = f"definition:{mark.line + 1}:{mark.column + 1}" if mark else "definition"
                raise InvalidArgument(
                    f"{where}: not YAML ({getattr(exc, 'problem', exc)})"
                ) from None
            if not isinstance(raw, dict):
                raise InvalidArgument(
                    "definition: a mapping with type:, url:, … (as in connectors.yaml)"
                )
            try:
                config = parse_connector_config(raw)
            except ValueError as exc:  # pydantic's ValidationError is a ValueError
                raise InvalidArgument(f"definition: {_first_problem(exc)}") from None
            instance = build_connector("form-test", config)
        else:
            configured = request.app.state.settings.connectors_config().connectors
            if connector not in configured:
                raise NotFound(f"no configured connector named {connector!r}")
            instance = build_connector(connector, configured[connector])
        with instance:
            result = probe(instance, client=client)
        if not result.ok:
            status = 502
    except (InvalidArgument, NotFound) as exc:
        error, status = exc.detail, 400
    return render(
        request,
        "onboarding_connectors.html",
        {
            "connectors": _connector_names(request),
            "connector_types": sorted(CONNECTORS),
            "clients": options,
            "result": result,
            "error": error,
            "typed": definition,
            "chosen": {"client": client, "connector": connector},
        },
        status_code=status,
    )


def _first_problem(exc: Exception) -> str:
    """The first problem of a ValidationError as ``field: message`` (never the input)."""
    from pydantic import ValidationError

    if isinstance(exc, ValidationError):
        found = exc.errors(include_input=False)
        if found:
            first = found[0]
            loc = ".".join(str(p) for p in first.get("loc", ()))
            msg = str(first.get("msg", "invalid")).removeprefix("Value error, ")
            return f"{loc}: {msg}" if loc else msg
    return str(exc)
