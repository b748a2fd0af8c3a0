"""The agent's own SNMPv1/v2c codec against pysnmp's (pyasn1) for the same messages: the
bytes of a request, and every value type of a response, both ways."""

from __future__ import annotations

import asyncio
import socket

import pytest
from pyasn1.codec.ber import decoder, encoder
from pysnmp.proto import api

from agent.snmp import v2c
from agent.snmp.engine import plain

P = api.PROTOCOL_MODULES[api.SNMP_VERSION_2C]
OIDS = [(1, 3, 6, 1, 2, 1, 1, 3, 0), (1, 3, 6, 1, 4, 1, 2_000_000_000, 128, 16383, 16384, 0)]


def pysnmp_message(pdu, version=1, community=b"public") -> bytes:
    message = P.Message()
    P.apiMessage.set_defaults(message)
    message.setComponentByPosition(0, version)
    P.apiMessage.set_community(message, community)
    P.apiMessage.set_pdu(message, pdu)
    return encoder.encode(message)


@pytest.mark.parametrize("kind", ["get", "next", "bulk"])
def test_requests_are_byte_for_byte_pysnmps(kind):
    pdu = {"get": P.GetRequestPDU, "next": P.GetNextRequestPDU, "bulk": P.GetBulkRequestPDU}[kind]()
    api_pdu = P.apiBulkPDU if kind == "bulk" else P.apiPDU
    api_pdu.set_defaults(pdu)
    api_pdu.set_request_id(pdu, 123456789)
    if kind == "bulk":
        P.apiBulkPDU.set_non_repeaters(pdu, 1)
        P.apiBulkPDU.set_max_repetitions(pdu, 25)
    api_pdu.set_varbinds(pdu, [(oid, P.Null("")) for oid in OIDS])
    ours = v2c.encode_request(1, b"s3cret", kind, 123456789, OIDS, 1, 25)
    assert ours == pysnmp_message(pdu, community=b"s3cret")


VALUES = [
    P.Integer(-5),
    P.Integer(2**31 - 1),
    P.Integer(-(2**31)),
    P.OctetString(b"Black Toner \xff"),
    P.OctetString(b""),
    P.ObjectIdentifier((1, 3, 6, 1, 4, 1, 11, 2, 3, 9, 1)),
    P.IpAddress("192.168.1.20"),
    P.Counter32(2**32 - 1),
    P.Gauge32(4294967295),
    P.TimeTicks(123456),
    P.Counter64(2**64 - 1),
    P.Opaque(b"\x9f\x78\x04\x00\x00\x00\x00"),
    P.Null(""),
]


def test_response_values_decode_like_pysnmp():
    pdu = P.ResponsePDU()
    P.apiPDU.set_defaults(pdu)
    P.apiPDU.set_request_id(pdu, 77)
    names = [(1, 3, 6, 1, 2, 1, 43, 11, 1, 1, 9, 1, i) for i in range(len(VALUES))]
    varbinds = list(zip(names, VALUES, strict=True))
    specials = [P.NoSuchObject(""), P.NoSuchInstance(""), P.EndOfMibView("")]
    P.apiPDU.set_varbinds(pdu, varbinds)
    data = pysnmp_message(pdu)
    # pysnmp cannot put the exception values through set_varbinds: append them by hand.
    version, tag, community, request_id, status, index, decoded = v2c.decode_response(data)
    assert (version, tag, community, request_id, status, index) == (
        1,
        v2c.RESPONSE,
        b"public",
        77,
        0,
        0,
    )
    reference, _ = decoder.decode(data, asn1Spec=P.Message())
    expected = [
        (tuple(name), plain(value))
        for name, value in P.apiPDU.get_varbinds(P.apiMessage.get_pdu(reference))
    ]
    assert decoded == expected
    raw = b"".join(
        v2c._tlv(0x30, v2c.encode_oid(names[0]) + encoder.encode(value)) for value in specials
    )
    body = v2c._integer(1) + v2c._integer(0) + v2c._integer(0) + v2c._tlv(0x30, raw)
    message = v2c._tlv(0x30, v2c._integer(1) + v2c._tlv(0x04, b"x") + v2c._tlv(0xA2, body))
    assert [value for _, value in v2c.decode_response(message)[-1]] == [None, None, v2c.END]


@pytest.mark.parametrize(
    "data",
    [b"", b"\x30", b"\x30\x05\x02\x01\x01\x04", b"\x30\x84\xff\xff\xff\xff", b"junk" * 10],
)
def test_garbage_is_a_decode_error(data):
    with pytest.raises(v2c.DecodeError):
        v2c.decode_response(data)


def test_timeout_retries_and_answers_only_from_the_asked_address():
    """A silent peer costs timeout × (retries + 1) and as many datagrams; an answer from
    another address with the right request id is ignored."""
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    silent.settimeout(2)
    impostor = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    impostor.bind(("127.0.0.1", 0))

    async def scenario():
        client = v2c.Client()
        task = asyncio.ensure_future(
            client.request(silent.getsockname(), 1, b"public", "get", OIDS[:1], 0.3, 2)
        )
        seen = []
        for _ in range(3):
            data, addr = await asyncio.get_running_loop().run_in_executor(
                None, silent.recvfrom, 65535
            )
            seen.append(data)
            request_id = v2c.decode_response(data.replace(b"\xa0", b"\xa2", 1))[3]
            answer = v2c.encode_request(1, b"public", "get", request_id, OIDS[:1])
            impostor.sendto(answer.replace(b"\xa0", b"\xa2", 1), addr)
        with pytest.raises(v2c.Timeout):
            await task
        client.close()
        return seen

    try:
        seen = asyncio.run(scenario())
    finally:
        silent.close()
        impostor.close()
    assert len(seen) == 3 and len(set(seen)) == 1  # the same request, resent twice
