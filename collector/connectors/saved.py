"""Connectors saved from the web UI: create, edit, disable and enable one connector of the
connectors file, as a person would edit it by hand.

The file is ``connectors_file`` when the collector's configuration names one, else
``connectors.yaml`` in the data directory (read by :meth:`Settings.connectors_config` when it
exists). Connectors given inline in the collector's configuration (``connectors:``) are not
written: the UI says to edit that file. Secrets are write-only: a secret typed in the form is
stored in its own file (``connector-secrets/<name>.<secret>``, mode 0600, next to the
connectors file) and the entry names it with ``<secret>_file`` — the form for the next edit
shows that one is stored, never its value; an empty secret field keeps what is stored.
``disabled:`` lists connectors that stay defined but get no incidents. Every change is one
row of ``config_audit`` (who, when, what; never a secret). A change applies when the
collector restarts (the outbox workers are built at start)."""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from collector import timeutil
from collector.connectors import CONNECTORS, ConnectorsConfig, connector_class
from collector.errors import InvalidArgument, NotFound
from collector.schema import config_audit

NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
SECRETS_DIR = "connector-secrets"


def connectors_path(settings: Any) -> Path:
    """Where saved connectors go (raises InvalidArgument when they are set inline)."""
    if settings.connectors is not None:
        raise InvalidArgument(
            "connectors: they are set inline in the collector's configuration (connectors:); "
            "edit that file, or move them to a connectors_file, to save them from here"
        )
    return Path(settings.connectors_file or Path(settings.data_dir) / "connectors.yaml")


def read_file(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise InvalidArgument(f"{path}: not a mapping of connectors")
    return data


def secret_names(type_name: str) -> tuple[str, ...]:
    return connector_class(type_name).config_model.SECRETS


def shown_entry(settings: Any, name: str) -> dict[str, Any]:
    """One saved connector for the edit form: its options without secrets, which secrets are
    stored, and whether it is disabled."""
    data = read_file(connectors_path(settings))
    entry = dict((data.get("connectors") or {}).get(name) or {})
    if not entry:
        raise NotFound(f"no saved connector named {name!r}")
    type_name = str(entry.get("type", ""))
    secrets = secret_names(type_name) if type_name in CONNECTORS else ()
    stored = [s for s in secrets if any(entry.get(k) for k in (s, f"{s}_file", f"{s}_env"))]
    for s in secrets:
        for key in (s, f"{s}_file", f"{s}_env"):
            entry.pop(key, None)
    entry.pop("type", None)
    return {
        "name": name,
        "type": type_name,
        "options": yaml.safe_dump(entry, sort_keys=False, allow_unicode=True) if entry else "",
        "secrets": secrets,
        "stored": stored,
        "disabled": name in (data.get("disabled") or []),
    }


def parse_options(text: str) -> dict[str, Any]:
    """The form's options (YAML mapping), errors at options:line:col."""
    try:
        raw = yaml.safe_load(text) if text.strip() else {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"options:{mark.line + 1}:{mark.column + 1}" if mark else "options"
        raise InvalidArgument(f"{where}: not YAML ({getattr(exc, 'problem', exc)})") from None
    if not isinstance(raw, dict):
        raise InvalidArgument("options: a mapping like 'url: https://…' (one option a line)")
    return raw


def save(
    store: Any,
    settings: Any,
    *,
    name: str,
    type_name: str,
    options: dict[str, Any],
    secrets: dict[str, str],
    actor: str,
    create: bool,
) -> None:
    """Create (``create``) or replace the saved connector ``name``. Raises InvalidArgument
    naming the field (``name``, ``type``, an option, a secret) and writes nothing then."""
    if not NAME.match(name):
        raise InvalidArgument(
            "name: lower-case letters, digits, '-' and '_' (at most 63), starting with a "
            "letter or digit"
        )
    if type_name not in CONNECTORS:
        raise InvalidArgument(f"type: must be one of {', '.join(sorted(CONNECTORS))}")
    names = secret_names(type_name)
    for key in options:
        base = str(key).removesuffix("_file").removesuffix("_env")
        if base in names:
            raise InvalidArgument(f"{key}: a secret goes in its own field (write-only)")
        if key == "type":
            raise InvalidArgument("type: choose the type in its own field")
    path = connectors_path(settings)
    data = read_file(path)
    entries = dict(data.get("connectors") or {})
    if create and name in entries:
        raise InvalidArgument(f"name: a connector named {name!r} exists already")
    if not create and name not in entries:
        raise NotFound(f"no saved connector named {name!r}")
    previous = entries.get(name) or {}
    if previous and previous.get("type") != type_name:
        raise InvalidArgument("type: a saved connector keeps its type (create a new one)")
    entry: dict[str, Any] = {"type": type_name, **options}
    check = dict(entry)
    changed = []
    for s in names:
        value = (secrets.get(s) or "").strip()
        if value:
            check[s] = value
            changed.append(s)
        else:  # keep what is stored, however it was given
            for key in (s, f"{s}_file", f"{s}_env"):
                if key in previous:
                    entry[key] = check[key] = previous[key]
    try:
        connector_class(type_name).config_model.model_validate(check)
    except ValidationError as exc:
        raise InvalidArgument(_problem(exc)) from None
    except ValueError as exc:
        raise InvalidArgument(str(exc)) from None
    folder = path.parent / SECRETS_DIR
    for s in changed:
        secret_path = folder / f"{name}.{s}"
        _write(secret_path, (secrets[s] or "").strip() + "\n", 0o600)
        for key in (s, f"{s}_env"):
            entry.pop(key, None)
        entry[f"{s}_file"] = str(secret_path)
    entries[name] = entry
    data["connectors"] = entries
    _validate_whole(data)
    _write(path, yaml.safe_dump(data, sort_keys=False, allow_unicode=True), 0o640)
    _audit(
        store,
        actor,
        "connector.create" if create else "connector.edit",
        name,
        {"type": type_name, "options": sorted(options), "secrets_changed": changed},
    )


def set_disabled(store: Any, settings: Any, name: str, disabled: bool, actor: str) -> None:
    path = connectors_path(settings)
    data = read_file(path)
    if name not in (data.get("connectors") or {}):
        raise NotFound(f"no saved connector named {name!r}")
    names = [n for n in (data.get("disabled") or []) if n != name]
    if disabled:
        names.append(name)
    if names:
        data["disabled"] = sorted(names)
    else:
        data.pop("disabled", None)
    _validate_whole(data)
    _write(path, yaml.safe_dump(data, sort_keys=False, allow_unicode=True), 0o640)
    _audit(store, actor, "connector.disable" if disabled else "connector.enable", name, {})


def _validate_whole(data: dict[str, Any]) -> None:
    try:
        ConnectorsConfig.model_validate(data)
    except ValidationError as exc:
        raise InvalidArgument(_problem(exc)) from None


def _problem(exc: ValidationError) -> str:
    """Every problem (at most five) as ``field: message`` (never the input)."""
    out = []
    for problem in exc.errors(include_input=False, include_url=False)[:5]:
        loc = ".".join(str(p) for p in problem.get("loc", ()))
        msg = str(problem.get("msg", "invalid")).removeprefix("Value error, ")
        out.append(f"{loc}: {msg}" if loc else msg)
    return "; ".join(out) or "invalid"


def _write(path: Path, text: str, mode: int) -> None:
    """Atomically: a temporary file in the same folder, then renamed over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o750)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _audit(store: Any, actor: str, action: str, subject: str, detail: dict[str, Any]) -> None:
    with store.write() as conn:
        conn.execute(
            config_audit.insert().values(
                ts=timeutil.now(),
                actor=actor,
                action=action,
                subject=subject,
                detail=json.loads(json.dumps(detail)),
            )
        )


def audit_rows(store: Any, subject: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
    import sqlalchemy as sa

    query = sa.select(config_audit).order_by(config_audit.c.id.desc()).limit(limit)
    if subject is not None:
        query = query.where(config_audit.c.subject == subject)
    with store.read() as conn:
        return [dict(r._mapping) for r in conn.execute(query)]
