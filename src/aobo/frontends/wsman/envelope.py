"""Parse a WS-Management request envelope into a :class:`WSManRequest` (sans-IO).

Parsing is namespace-aware (clients use different prefixes for the same namespaces) and safe:
defusedxml refuses DTDs, entity declarations and external references, and the caller caps the
body size before it gets here.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from aobo.frontends.wsman import namespaces as ns
from aobo.frontends.wsman.faults import FaultCode, WSManFault, invalid_message

# DSP0226 6.2: a MaxEnvelopeSize below 8192 octets gets wsman:EncodingLimit.
MIN_ENVELOPE_SIZE = 8192

_DURATION = re.compile(
    r"^(?P<neg>-)?P(?:(?P<d>\d+)D)?(?:T(?:(?P<h>\d+)H)?(?:(?P<m>\d+)M)?(?:(?P<s>-?\d+(?:\.\d+)?)S)?)?$"
)


def _q(namespace: str, name: str) -> str:
    return f"{{{namespace}}}{name}"


H_ACTION = _q(ns.ADDRESSING, "Action")
H_MESSAGE_ID = _q(ns.ADDRESSING, "MessageID")
H_RESOURCE_URI = _q(ns.WSMAN, "ResourceURI")
H_MAX_ENVELOPE = _q(ns.WSMAN, "MaxEnvelopeSize")
H_OPERATION_TIMEOUT = _q(ns.WSMAN, "OperationTimeout")
H_SELECTOR_SET = _q(ns.WSMAN, "SelectorSet")
H_OPTION_SET = _q(ns.WSMAN, "OptionSet")
H_COMPRESSION = _q(ns.SHELL, "CompressionType")


@dataclass(frozen=True, slots=True)
class WSManRequest:
    action: str
    message_id: str
    resource_uri: str
    body: Element
    selectors: dict[str, str] = field(default_factory=dict)
    options: dict[str, str] = field(default_factory=dict)
    max_envelope_size: int | None = None
    operation_timeout: float | None = None
    compression: str | None = None

    @property
    def shell_id(self) -> str | None:
        value = self.selectors.get("ShellId")
        return value.upper() if value else None

    def first(self, namespace: str, name: str) -> Element | None:
        """The first child of the SOAP body with this name, if any."""
        return self.body.find(_q(namespace, name))


def parse_duration(text: str) -> float:
    """An xs:duration such as ``PT20S`` or ``PT180.000S`` in seconds."""
    m = _DURATION.match(text.strip())
    if not m or not any(m.group(k) for k in "dhms"):
        raise invalid_message(f"The value '{text}' is not a valid xs:duration.")
    d, h, mi, s = (m.group(k) for k in "dhms")
    seconds = int(d or 0) * 86400 + int(h or 0) * 3600 + int(mi or 0) * 60 + float(s or 0)
    # pypsrp can send PT-1S; a negative wait means answer at once.
    return 0.0 if m.group("neg") or seconds < 0 else seconds


def format_duration(seconds: float) -> str:
    return f"PT{seconds:.3f}S"


def parse_request(data: bytes) -> WSManRequest:
    """Parse one request envelope; raise :class:`WSManFault` for anything malformed.

    Once the MessageID is known, a fault carries it in ``relates_to`` so the reply can echo it.
    """
    try:
        root = fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except (ParseError, DefusedXmlException, ValueError) as exc:
        raise WSManFault(
            FaultCode.INVALID_XML,
            f"The WS-Management service cannot process the request because the XML is invalid: {exc}",
            subcode="w:SchemaValidationError",
        ) from None
    if root.tag != _q(ns.SOAP, "Envelope"):
        raise invalid_message("The request is not a SOAP 1.2 envelope.")
    header = root.find(_q(ns.SOAP, "Header"))
    body = root.find(_q(ns.SOAP, "Body"))
    if header is None or body is None:
        raise invalid_message("The SOAP envelope needs a Header and a Body.")

    message_id = _text(header, H_MESSAGE_ID)
    try:
        return _parse_headers(header, body, message_id)
    except WSManFault as fault:
        fault.relates_to = message_id or None
        raise


def _parse_headers(header: Element, body: Element, message_id: str | None) -> WSManRequest:
    action = _text(header, H_ACTION)
    if not action or not message_id:
        raise WSManFault(
            FaultCode.INVALID_HEADER,
            "The WS-Management service cannot process the request because the header lacks Action or MessageID.",
            subcode="w:InvalidHeader",
        )

    selectors: dict[str, str] = {}
    selector_set = header.find(H_SELECTOR_SET)
    if selector_set is not None:
        for sel in selector_set:
            name = sel.get("Name")
            if name:
                selectors[name] = (sel.text or "").strip()

    options: dict[str, str] = {}
    option_set = header.find(H_OPTION_SET)
    if option_set is not None:
        for opt in option_set:
            name = opt.get("Name")
            if name:
                options[name] = (opt.text or "").strip()

    max_env = None
    if (raw := _text(header, H_MAX_ENVELOPE)) is not None:
        try:
            max_env = int(raw)
        except ValueError:
            raise invalid_message(f"MaxEnvelopeSize '{raw}' is not a number.") from None
        if max_env < MIN_ENVELOPE_SIZE:
            raise WSManFault(
                FaultCode.ENCODING_LIMIT,
                f"The WS-Management service cannot process the request because MaxEnvelopeSize {max_env} is "
                f"below the minimum of {MIN_ENVELOPE_SIZE}.",
                subcode="w:EncodingLimit",
            )

    timeout = None
    if (raw := _text(header, H_OPERATION_TIMEOUT)) is not None:
        timeout = parse_duration(raw)

    return WSManRequest(
        action=action,
        message_id=message_id,
        resource_uri=_text(header, H_RESOURCE_URI) or "",
        body=body,
        selectors=selectors,
        options=options,
        max_envelope_size=max_env,
        operation_timeout=timeout,
        compression=_text(header, H_COMPRESSION),
    )


def decode_base64(text: str | None, what: str) -> bytes:
    try:
        return base64.b64decode("".join((text or "").split()), validate=True)
    except (binascii.Error, ValueError):
        raise invalid_message(f"The {what} is not valid base64.") from None


def _text(parent: Element, tag: str) -> str | None:
    el = parent.find(tag)
    return None if el is None else (el.text or "").strip()
