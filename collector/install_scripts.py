"""The agent install scripts, served by the collector (``GET /install/agent.sh`` and
``GET /install/agent.ps1``) with the collector's address filled in: ``public_url`` when it is
set, else the address the script was asked at. The scripts are ``collector/install/``
(``deploy/install/`` links to them). No token is in them: the same text for every caller, so
it may be cached; the token is given by the person running the command (an environment
variable), as the onboarding page shows it."""

from __future__ import annotations

import re
import shlex
from importlib import resources

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse

from collector.errors import NotFound

router = APIRouter(tags=["install"])

#: Served name → (file in collector/install/, media type).
SCRIPTS = {
    "agent.sh": ("install-agent.sh", "text/x-shellscript; charset=utf-8"),
    "agent.ps1": ("install-agent.ps1", "text/plain; charset=utf-8"),
}
_SH_URL = re.compile(r'^COLLECTOR_URL=""$', re.M)
_PS_URL = re.compile(r'^\$UpkeepCollectorUrl = ""$', re.M)


def collector_url(request: Request) -> str:
    """The collector's address for agents: ``public_url``, else the address asked."""
    settings = getattr(request.app.state, "settings", None)
    configured = getattr(settings, "public_url", None)
    return (configured or str(request.base_url)).rstrip("/")


def ps_quote(value: str) -> str:
    """A PowerShell single-quoted string."""
    return "'" + value.replace("'", "''") + "'"


def script_text(name: str, url: str) -> str:
    """The install script ``name`` (a key of :data:`SCRIPTS`) with ``url`` filled in."""
    filename, _ = SCRIPTS[name]
    text = resources.files("collector").joinpath("install", filename).read_text("utf-8")
    if name.endswith(".sh"):
        return _SH_URL.sub(lambda _: f"COLLECTOR_URL={shlex.quote(url)}", text, count=1)
    return _PS_URL.sub(lambda _: f"$UpkeepCollectorUrl = {ps_quote(url)}", text, count=1)


def install_commands(url: str, token: str, site: str) -> dict[str, str]:
    """Copy-paste commands that fetch the served scripts and run them with ``token``."""
    site = site or "default"
    linux = (
        f"curl -fsSL {shlex.quote(url + '/install/agent.sh')} | "
        f"sudo UPKEEP_AGENT_TOKEN={shlex.quote(token)} sh -s -- --site {shlex.quote(site)}"
    )
    windows = (
        f"$env:UPKEEP_AGENT_TOKEN = {ps_quote(token)}; "
        f"irm {ps_quote(url + '/install/agent.ps1')} | iex; "
        f"Install-UpkeepAgent -Site {ps_quote(site)}"
    )
    return {"linux": linux, "windows": windows}


@router.get(
    "/install/{name}",
    response_class=PlainTextResponse,
    include_in_schema=True,
    responses={
        200: {
            "description": "The script, with this collector's address filled in",
            "content": {
                "text/x-shellscript": {"schema": {"type": "string"}},
                "text/plain": {"schema": {"type": "string"}},
            },
        },
        404: {"description": "No install script of this name"},
    },
)
def install_script(name: str, request: Request) -> PlainTextResponse:
    """An agent install script with this collector's address filled in (no secret in it)."""
    if name not in SCRIPTS:
        raise NotFound(f"no install script {name!r}; there are {', '.join(sorted(SCRIPTS))}")
    return PlainTextResponse(
        script_text(name, collector_url(request)),
        media_type=SCRIPTS[name][1],
        headers={"Cache-Control": "public, max-age=300"},
    )
