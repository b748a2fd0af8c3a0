"""Contract files: one YAML file per client contract, validated with ``file:line`` problems.

``contracts_paths`` (settings) names files and folders; a folder contributes its ``*.yaml`` /
``*.yml`` files (sorted). Each file holds one contract with a ``client:`` key. A problem reads
``file:line: field.path: message``, the line being the key or item at fault (an unknown key
points at the key itself, a bad holiday country at ``country:``, a duplicate task id at the
second task's ``id:``).

:func:`check` is pure apart from reading the files (``upkeep contract check`` and the collector
share it); :class:`ContractFiles` is the collector's shell: it loads the files into the
``contracts`` table at start, on SIGHUP and on ``POST /api/v1/contracts/reload``. A file with a
problem is refused alone and never replaces the stored contract (the last good one keeps
running); its problems are in the reload result and the log.
"""

from __future__ import annotations

import difflib
import logging
import re
import threading
import typing
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ValidationError
from sqlalchemy.engine import Connection

from agent.yamlsource import ConfigError, YamlDocument, dotted
from collector import timeutil
from collector.contracts.model import Contract
from collector.contracts.store import contract_row, put_contract
from collector.schema import clients

log = logging.getLogger(__name__)

CONTRACT_SUFFIXES = (".yaml", ".yml")
FILE_ACTOR = "contract-file"


@dataclass(slots=True)
class ParsedFile:
    """One contract file: the contract when it validates, else its problems."""

    path: Path
    contract: Contract | None = None
    problems: list[str] = field(default_factory=list)
    doc: YamlDocument | None = None


def contract_files(paths: Iterable[str | Path]) -> list[Path]:
    """Files in ``paths``: a folder contributes its ``*.yaml``/``*.yml`` files, sorted."""
    out: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            out.extend(
                sorted(
                    p for p in path.iterdir() if p.is_file() and p.name.endswith(CONTRACT_SUFFIXES)
                )
            )
        else:
            out.append(path)
    return out


# ---------------------------------------------------------------------- problems with places


def _keys_of(model: type[BaseModel]) -> list[str]:
    return [f.alias or name for name, f in model.model_fields.items()]


def _inner_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _inner_model(arg)
        if found is not None:
            return found
    return None


def _model_at(loc: Sequence[str | int]) -> type[BaseModel] | None:
    """The model owning the last key of ``loc`` (for "did you mean")."""
    current: type[BaseModel] | None = Contract
    for part in loc[:-1]:
        if isinstance(part, int) or current is None:
            continue
        found = current.model_fields.get(str(part))
        current = _inner_model(found.annotation) if found is not None else None
    return current


def _child(data: Any, loc: Sequence[str | int]) -> Any:
    for part in loc:
        if isinstance(data, dict):
            data = data.get(part)
        elif isinstance(data, list) and isinstance(part, int) and part < len(data):
            data = data[part]
        else:
            return None
    return data


_QUOTED = re.compile(r"'([^']+)'")


def _refine(loc: list[str | int], msg: str, data: Any) -> list[str | int]:
    """Point a model-level message at the key it is about (the line an admin must change)."""
    node = _child(data, loc)
    if isinstance(node, list) and msg.startswith("action "):  # remediation.standard: the item
        quoted = _QUOTED.search(msg)
        at = [i for i, v in enumerate(node) if quoted and v == quoted.group(1)]
        return [*loc, at[1 if "twice" in msg and len(at) > 1 else 0]] if at else loc
    if not isinstance(node, dict):
        return loc
    if msg.startswith("unknown weekday"):
        quoted = _QUOTED.search(msg)
        return [*loc, quoted.group(1)] if quoted else loc
    first = msg.split(" ", 1)[0]
    if first in node:  # "country 'XX' is not known…", "max goes with policy: up_to…"
        return [*loc, first]
    if msg.startswith("max goes with") and "policy" in node:
        return [*loc, "policy"]
    return loc


def describe(exc: ValidationError, doc: YamlDocument | None) -> list[str]:
    """pydantic errors → ``file:line: field.path: message``, each at the key or item at fault."""
    data = doc.data if doc is not None else None
    out: list[str] = []
    for err in exc.errors(include_url=False):
        loc: list[str | int] = [
            p
            for p in err["loc"]
            if not (
                isinstance(p, str)
                and (
                    p.startswith(("function-", "literal[")) or p in ("[key]", "str", "int", "float")
                )
            )
        ]
        msg = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            owner = _model_at(loc)
            close = (
                difflib.get_close_matches(str(loc[-1]), _keys_of(owner), n=1, cutoff=0.6)
                if owner
                else []
            )
            msg = "unknown key" + (f"; did you mean {close[0]!r}?" if close else "")
        elif err["type"] == "missing":
            msg = "missing (required)"
        elif msg.startswith("task id") and loc and loc[-1] == "maintenance_tasks":
            continue  # reported with the second task's line by _duplicate_tasks
        else:
            loc = _refine(loc, msg, data)
        where = doc.where(loc) if doc is not None else "<input>"
        out.append(f"{where}: {dotted(loc)}: {msg}")
    return list(dict.fromkeys(out))


def _duplicate_tasks(doc: YamlDocument) -> list[str]:
    tasks = _child(doc.data, ["maintenance_tasks"])
    if not isinstance(tasks, list):
        return []
    first: dict[str, int] = {}
    out = []
    for i, task in enumerate(tasks):
        task_id = task.get("id") if isinstance(task, dict) else None
        if not isinstance(task_id, str):
            continue
        if task_id in first:
            line = doc.line_of(["maintenance_tasks", first[task_id], "id"])
            out.append(
                f"{doc.where(['maintenance_tasks', i, 'id'])}: maintenance_tasks[{i}].id: "
                f"task id {task_id!r} is used twice (first at line {line})"
            )
        else:
            first[task_id] = i
    return out


def parse_document(
    doc: YamlDocument, actions: Collection[str] | None = None
) -> tuple[Contract | None, list[str]]:
    """Validate one parsed contract file (``actions``: the names remediation may list)."""
    if not isinstance(doc.data, dict):
        return None, [
            f"{doc.where([])}: (top level): a contract file is a mapping with client:, plan:, …"
        ]
    problems = _duplicate_tasks(doc)
    try:
        contract = Contract.model_validate(doc.data, context=validation_context(actions))
    except ValidationError as exc:
        return None, sorted(problems + describe(exc, doc), key=_line)
    return (None, problems) if problems else (contract, [])


def _line(problem: str) -> int:
    parts = problem.split(":", 2)
    return int(parts[1]) if len(parts) > 2 and parts[1].isdigit() else 0


def validation_context(actions: Collection[str] | None) -> dict[str, Any] | None:
    return {"actions": set(actions)} if actions is not None else None


def parse_file(path: str | Path, actions: Collection[str] | None = None) -> ParsedFile:
    """Read and validate one contract file (never raises for bad content)."""
    path = Path(path)
    if not path.exists():
        return ParsedFile(path, problems=[f"{path}: no such file or folder"])
    try:
        doc = YamlDocument.from_file(path)
    except ConfigError as exc:
        return ParsedFile(path, problems=list(exc.problems))
    contract, problems = parse_document(doc, actions)
    return ParsedFile(path, contract, problems, doc)


def check(
    paths: Iterable[str | Path],
    known_clients: Iterable[str] | None = None,
    actions: Collection[str] | None = None,
) -> list[ParsedFile]:
    """Parse every contract file under ``paths``. Also refused: a second file for a client,
    (when ``known_clients`` is given) a client Upkeep does not know, and (``actions``: the
    action library's names) a standard fix that is no action."""
    known = set(known_clients) if known_clients is not None else None
    parsed = [parse_file(p, actions) for p in contract_files(paths)]
    owner: dict[str, Path] = {}
    for item in parsed:
        if item.contract is None or item.doc is None:
            continue
        client = item.contract.client
        where = item.doc.where(["client"])
        if known is not None and client not in known:
            item.problems.append(
                f"{where}: client: no client named {client!r} "
                f"(create it first: upkeep client add {client})"
            )
        elif client in owner:
            item.problems.append(
                f"{where}: client: {client!r} already has a contract in {owner[client]}"
            )
        else:
            owner[client] = item.path
        if item.problems:
            item.contract = None
    return parsed


# ---------------------------------------------------------------------- the collector's shell


@dataclass(slots=True)
class ReloadResult:
    """What a load of the contract files did: per file, the client and stored version, or problems."""

    ok: bool = True
    paths: list[str] = field(default_factory=list)
    loaded: list[dict[str, Any]] = field(default_factory=list)  # {client, file, version, changed}
    errors: list[str] = field(default_factory=list)
    at: float | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "paths": self.paths,
            "loaded": self.loaded,
            "errors": self.errors,
            "at": timeutil.to_datetime(self.at).isoformat() if self.at is not None else None,
        }


def managed_files(paths: Iterable[str | Path]) -> set[str]:
    """The contract files the collector loads (resolved paths), to tell file-managed contracts."""
    return {str(p.resolve()) for p in contract_files(paths)}


class ContractFiles:
    """Loads ``paths`` into the store. Thread-safe; every collector replica may run it (storing
    an unchanged contract is a no-op)."""

    def __init__(
        self, store: Any, paths: Iterable[str | Path], actions: Collection[str] | None = None
    ) -> None:
        self.store = store
        self.paths = [Path(p) for p in paths]
        #: The action library's names (``remediation.standard`` must name actions).
        self.actions = set(actions) if actions is not None else None
        self.last = ReloadResult(paths=[str(p) for p in self.paths])
        self._lock = threading.Lock()

    def managed(self) -> set[str]:
        return managed_files(self.paths)

    def reload(self, now: float | None = None) -> ReloadResult:
        """Load every file; a file with problems leaves its client's stored contract as it was."""
        now = timeutil.now() if now is None else now
        result = ReloadResult(paths=[str(p) for p in self.paths], at=now)
        if not self.paths:
            self.last = result
            return result
        with self._lock:
            with self.store.write() as conn:
                names = dict(conn.execute(sa.select(clients.c.name, clients.c.id)).all())
                for item in check(self.paths, names, self.actions):
                    if item.contract is None:
                        result.errors.extend(item.problems)
                        continue
                    try:
                        with conn.begin_nested():  # one file's failure never undoes the others
                            result.loaded.append(
                                self._store(conn, names[item.contract.client], item, now)
                            )
                    except sa.exc.IntegrityError:  # another collector stored it at the same moment
                        result.errors.append(
                            f"{item.path}: stored concurrently by another collector; reload again"
                        )
            result.ok = not result.errors
            for problem in result.errors:
                log.error("contract file refused (the stored contract stays): %s", problem)
            changed = [x["client"] for x in result.loaded if x["changed"]]
            if changed:
                log.info("contracts loaded from files: %s", ", ".join(changed))
            self.last = result
            return result

    def _store(
        self, conn: Connection, client_id: int, item: ParsedFile, now: float
    ) -> dict[str, Any]:
        assert item.contract is not None
        source = str(item.path.resolve())
        before = contract_row(conn, client_id)
        if before is not None and before.source != source:
            log.warning(
                "contract of %s came from %s; the file %s replaces it",
                item.contract.client,
                before.source,
                source,
            )
        version = put_contract(
            conn, client_id, item.contract, source=source, actor=FILE_ACTOR, now=now
        )
        changed = before is None or before.version != version or before.source != source
        return {
            "client": item.contract.client,
            "file": str(item.path),
            "version": version,
            "changed": changed,
        }


def raise_problems(parsed: Sequence[ParsedFile]) -> None:
    """ConfigError with every problem of ``parsed`` (for the CLI)."""
    problems = [p for item in parsed for p in item.problems]
    if problems:
        raise ConfigError(problems)
