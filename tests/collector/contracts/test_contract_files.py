"""Contract files: every problem as ``file:line: field.path: message`` at the key at fault;
loading into the store keeps the last good contract when a file goes bad (SQLite and PostgreSQL)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import sqlalchemy as sa

from collector import admin
from collector.contracts.files import ContractFiles, check, parse_file
from collector.contracts.model import Contract
from collector.contracts.store import contract_row, get_contract
from collector.schema import clients

SAMPLE = Path(__file__).resolve().parents[3] / "collector" / "contracts" / "sample-contract.yaml"

GOOD = """\
client: acme
plan: {name: Basic, monthly_fee: 300, currency: EUR}
calendar:
  timezone: Europe/Berlin
  business_hours: {mon: "08:00-17:00", tue: "08:00-17:00"}
  holidays: {country: DE, subdivision: BY}
points: {allotment: 10}
"""


def write(tmp_path: Path, text: str, name: str = "acme.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_the_sample_contract_validates_and_shows_every_section() -> None:
    parsed = parse_file(SAMPLE)
    assert parsed.problems == []
    contract = parsed.contract
    assert contract is not None and contract.client == "acme"
    assert contract.plan.currency == "EUR" and contract.period.start_day == 1
    assert {e.description for e in contract.scope.exclude} == {
        "printers leased from a third party",
        "the building's electrics",
        "the website hosted elsewhere",
    }
    assert contract.scope.out_of_scope == "tag"
    assert (
        contract.calendar.timezone == "Europe/Berlin" and contract.calendar.holidays.country == "DE"
    )
    assert contract.calendar.always_on == ["critical"]
    assert contract.sla.for_priority("critical").resolution.within == 4 * 3600
    points = contract.points
    assert points is not None and points.allotment == 2000 and points.rollover.max == 1000
    assert [t.label for t in points.low_balance] == [
        "25%",
        "10%",
    ] and points.at_zero == "allow_negative"
    assert contract.contacts_for("sla") == ["it@acme.example"]
    assert [t.id for t in contract.maintenance_tasks] == [
        "verify-backups",
        "os-updates",
        "printer-cleaning",
    ]
    # What the store keeps reads back as the same contract.
    assert Contract.model_validate(contract.model_dump(mode="json")) == contract


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            """\
     client: acme
     plan: {name: Basic}
     calendar:
       timezone: Mars/Olympus
     """,
            "{f}:4: calendar.timezone: unknown time zone 'Mars/Olympus' (use an IANA name like 'Europe/Berlin')",
        ),
        (
            """\
     client: acme
     plan: {name: Basic}
     calendar:
       business_hours:
         mon: "08:00-17:00"
         monday: "09:00-17:00"
     """,
            "{f}:6: calendar.business_hours.monday: unknown weekday 'monday'; use mon, tue, wed, thu, fri, sat, sun",
        ),
        (
            """\
     client: acme
     plan: {name: Basic}
     calendar:
       business_hours:
         fri: ["08:00-12:00", "11:30-16:00"]
     """,
            "{f}:5: calendar.business_hours.fri: ranges overlap: ['08:00-12:00', '11:30-16:00']",
        ),
        (
            """\
     client: acme
     plan: {name: Basic}
     calendar:
       holidays:
         country: ZZ
     """,
            "{f}:5: calendar.holidays.country: country 'ZZ' is not known to the holidays library",
        ),
        (
            """\
     client: acme
     plan: {name: Basic}
     calendar:
       holidays:
         country: AT
         subdivision: BY
     """,
            "{f}:6: calendar.holidays.subdivision: subdivision 'BY' is not one of AT's: "
            "1, 2, 3, 4, 5, 6, 7, 8, 9",
        ),
        (
            """\
     client: acme
     plan: {name: Basic}
     scope:
       exclude:
         - {kind: printer, description: leased}
       out_of_scope: tag
       colour: blue
     """,
            "{f}:7: scope.colour: unknown key",
        ),
        (
            """\
     client: acme
     plan: {name: Basic}
     points:
       allotment: 10
       rollover:
         max: 5
     """,
            "{f}:6: points.rollover.max: max goes with policy: up_to (and only with it)",
        ),
        (
            """\
     client: acme
     plan: {name: Basic}
     maintenance_tasks:
       - {id: backups, title: Verify backups, every: monthly}
       - {id: updates, title: OS updates, every: weekly}
       - id: backups
         title: Verify backups again
         every: weekly
     """,
            "{f}:6: maintenance_tasks[2].id: task id 'backups' is used twice (first at line 4)",
        ),
        (
            """\
     client: acme
     plan: {name: Basic}
     contacts:
       - {name: Jane, email: not-an-address}
     """,
            "{f}:4: contacts[0].email: 'not-an-address' is not an e-mail address",
        ),
        (
            """\
     client: acme
     plna: {name: Basic}
     """,
            "{f}:2: plna: unknown key; did you mean 'plan'?",
        ),
        (
            """\
     client: acme
     plan: [oops
     """,
            "{f}:2:7: invalid YAML: the '[' opened here is never closed"
            " (expected ',' or ']', but got '<stream end>' at 3:1)",
        ),
    ],
)
def test_problems_name_file_line_and_field(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    parsed = parse_file(path)
    assert parsed.contract is None
    assert expected.format(f=path) in parsed.problems, parsed.problems


def test_a_file_names_one_client_and_the_client_must_exist(tmp_path: Path) -> None:
    a = write(tmp_path, GOOD, "a.yaml")
    b = write(tmp_path, GOOD, "b.yaml")
    c = write(tmp_path, "client: initech\nplan: {name: Basic}\n", "c.yaml")
    parsed = {p.path.name: p for p in check([tmp_path], known_clients=["acme"])}
    assert parsed["a.yaml"].problems == [] and parsed["a.yaml"].contract is not None
    assert parsed["b.yaml"].problems == [f"{b}:1: client: 'acme' already has a contract in {a}"]
    assert parsed["c.yaml"].problems == [
        f"{c}:1: client: no client named 'initech' (create it first: upkeep client add initech)"
    ]
    # Without a store to ask, the client is not checked.
    assert [p.problems for p in check([c])] == [[]]


def test_reload_keeps_the_last_good_contract_when_a_file_goes_bad(
    store, tmp_path: Path, caplog
) -> None:
    admin.create_client(store, "acme")
    admin.create_client(store, "globex")
    folder = tmp_path / "contracts"
    folder.mkdir()
    path = write(folder, GOOD)
    files = ContractFiles(store, [folder])
    first = files.reload(now=1000.0)
    assert first.ok and first.loaded == [
        {"client": "acme", "file": str(path), "version": 1, "changed": True}
    ]
    # The same file again: a no-op.
    assert files.reload(now=1001.0).loaded[0] == {
        "client": "acme",
        "file": str(path),
        "version": 1,
        "changed": False,
    }

    path.write_text(GOOD.replace("allotment: 10", "allotment: 12"))
    assert files.reload(now=1002.0).loaded[0]["version"] == 2

    path.write_text(GOOD.replace("timezone: Europe/Berlin", "timezone: Europe/Atlantis"))
    write(folder, "client: globex\nplan: {name: Gold}\n", "globex.yaml")
    result = files.reload(now=1003.0)
    assert not result.ok
    assert result.errors == [
        f"{path}:4: calendar.timezone: unknown time zone 'Europe/Atlantis' "
        f"(use an IANA name like 'Europe/Berlin')"
    ]
    assert [x["client"] for x in result.loaded] == ["globex"]  # a bad file does not stop the others
    assert "contract file refused" in caplog.text
    with store.read() as conn:
        acme_id = conn.execute(sa.select(clients.c.id).where(clients.c.name == "acme")).scalar()
        kept = get_contract(conn, acme_id)
        row = contract_row(conn, acme_id)
    assert (
        kept is not None
        and kept.calendar.timezone == "Europe/Berlin"
        and kept.points.allotment == 1200
    )
    assert row.version == 2 and row.source == str(path.resolve())


def test_unknown_client_in_a_file_is_refused_by_name(store, tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("client: acme", "client: initech"))
    result = ContractFiles(store, [path]).reload()
    assert result.errors == [
        f"{path}:1: client: no client named 'initech' (create it first: upkeep client add initech)"
    ]
