"""The rule backtest page (``/ui/rules/backtest``, staff): paste or upload a candidate rule
file, choose a client and a span, and see what it would have opened over the stored history,
next to the loaded rule of the same id (``collector.rules.backtest``, as ``upkeep rules
backtest``). Errors in the file are shown at file:line:col; what was typed is kept."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import Response

from collector import timeutil
from collector.errors import InvalidArgument
from collector.rules.backtest import BacktestError, backtest, load_candidate_text
from collector.web import queries
from collector.web.access import require_staff
from collector.web.routes import PREFIX, ClientScope, CsrfUser, User, render

router = APIRouter(prefix=PREFIX, include_in_schema=False)

#: The spans the form offers (label → seconds).
SPANS = {"1d": 86400, "7d": 7 * 86400, "30d": 30 * 86400, "90d": 90 * 86400}
MAX_FILE_BYTES = 256 * 1024


def _page(
    request: Request,
    scope: ClientScope,
    *,
    form: dict[str, str] | None = None,
    report: dict | None = None,
    problems: list[str] | None = None,
    error: str = "",
    status: int = 200,
) -> Response:
    with request.app.state.store.read() as conn:
        options = queries.client_options(conn, scope)
    shown = {"client": "", "since": "30d", "text": "", "filename": "candidate.yaml"}
    shown.update(form or {})
    rules = sorted(request.app.state.rules.engine.ruleset.rules)
    return render(
        request,
        "backtest.html",
        {
            "clients": options,
            "spans": list(SPANS),
            "form": shown,
            "report": report,
            "problems": problems or [],
            "error": error,
            "loaded_rules": rules,
        },
        status_code=status,
    )


@router.get("/rules/backtest")
def backtest_form(request: Request, user: User, scope: ClientScope) -> Response:
    require_staff(user)
    return _page(request, scope)


@router.post("/rules/backtest")
async def backtest_run(
    request: Request,
    user: CsrfUser,
    scope: ClientScope,
    client: Annotated[str, Form(max_length=100, pattern=r"^[^\x00]*$")],
    since: Annotated[str, Form(max_length=4)] = "30d",
    text: Annotated[str, Form(max_length=MAX_FILE_BYTES)] = "",
    file: Annotated[UploadFile | None, File()] = None,
) -> Response:
    require_staff(user)
    filename = "candidate.yaml"
    if file is not None and file.filename:
        raw = await file.read(MAX_FILE_BYTES + 1)
        if len(raw) > MAX_FILE_BYTES:
            raise InvalidArgument(f"file: at most {MAX_FILE_BYTES // 1024} KiB")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidArgument("file: not UTF-8 text") from None
        filename = file.filename
    typed = {"client": client, "since": since, "text": text, "filename": filename}
    if since not in SPANS:
        return _page(
            request, scope, form=typed, error=f"Span: one of {', '.join(SPANS)}", status=400
        )
    if not text.strip():
        return _page(request, scope, form=typed, error="Rule file: paste or upload one", status=400)
    with request.app.state.store.read() as conn:
        queries.client_by_name(conn, scope, client)  # NotFound for a name out of scope
    current = request.app.state.rules.engine.ruleset
    try:
        candidate = load_candidate_text(text, filename, current)
    except BacktestError as exc:
        return _page(
            request,
            scope,
            form=typed,
            problems=[str(p) for p in exc.problems] or [exc.detail],
            error="The rule file has errors.",
            status=400,
        )
    until = timeutil.now()
    result = backtest(
        request.app.state.store,
        candidate,
        current,
        client=client,
        since=until - SPANS[since],
        until=until,
        settings=request.app.state.settings,
    )
    return _page(request, scope, form=typed, report=result.to_json())
