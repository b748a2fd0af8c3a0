"""Approval links: HMAC-signed, expiring, bound to their action; the secret is made once, private."""

from __future__ import annotations

import stat

import pytest

from collector.ledger.links import ApprovalLinks, InvalidLink, links_from_settings, load_secret

LINKS = ApprovalLinks(b"s" * 32, "https://upkeep.example.com/", 3600.0)


def test_a_valid_token_names_its_request() -> None:
    token = LINKS.token("REQ-acme-7", "approve", now=1000.0)
    assert LINKS.verify(token, "approve", now=1000.0 + 3599) == "REQ-acme-7"
    assert LINKS.url("REQ-acme-7", "reject", 1000.0).startswith(
        "https://upkeep.example.com/reject?token="
    )


@pytest.mark.parametrize(
    "tamper",
    [
        lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),  # signature changed
        lambda t: t.replace(t.split(".")[0], t.split(".")[0][:-3] + "xyz"),  # payload changed
        lambda t: t.split(".")[0],  # signature missing
        lambda t: "",
        lambda t: "not.a-token",
    ],
)
def test_a_tampered_token_is_refused(tamper) -> None:
    token = LINKS.token("REQ-acme-7", "approve", now=1000.0)
    with pytest.raises(InvalidLink, match="not valid"):
        LINKS.verify(tamper(token), "approve", now=1000.0)


def test_a_token_for_another_request_cannot_be_forged_without_the_secret() -> None:
    other = ApprovalLinks(b"t" * 32, LINKS.base_url, 3600.0)
    with pytest.raises(InvalidLink, match="not valid"):
        LINKS.verify(other.token("REQ-acme-7", "approve", 1000.0), "approve", 1000.0)


def test_an_expired_token_and_the_wrong_action_are_refused() -> None:
    token = LINKS.token("REQ-acme-7", "approve", now=1000.0)
    with pytest.raises(InvalidLink, match="expired"):
        LINKS.verify(token, "approve", now=1000.0 + 3601)
    with pytest.raises(InvalidLink, match="does not reject"):
        LINKS.verify(token, "reject", now=1000.0)


def test_the_secret_is_made_once_and_private(tmp_path) -> None:
    from collector.settings import Settings

    settings = Settings.for_data_dir(tmp_path / "data", public_url="https://upkeep.example.com")
    first = links_from_settings(settings)
    path = tmp_path / "data" / "approval-secret"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert links_from_settings(settings).secret == first.secret == load_secret(path)
    assert first.base_url == "https://upkeep.example.com"
    short = tmp_path / "short"
    short.write_text("abc\n")
    with pytest.raises(Exception, match="too short"):
        load_secret(short)
