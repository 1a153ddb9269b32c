"""AWS Signature Version 4 verification, written for the strict CloudWatch Logs sink.

The sink does not trust clients: it rebuilds the canonical request from the bytes it
received and recomputes the signature (IAM User Guide "Create a signed AWS API request";
facts summarised in /work/shared/reference/aws-apis.md section 4.1).  The helpers are
pure functions so that test_harness.py can check them against AWS's own SigV4 test
suite in /work/shared/testdata/sigv4/.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import hmac
import re
from dataclasses import dataclass
from urllib.parse import unquote

ALGORITHM = "AWS4-HMAC-SHA256"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~")


def uri_encode(data: str | bytes, keep_slash: bool = False) -> str:
    """Percent-encode every byte outside A-Za-z0-9-_.~ (upper-case hex); optionally keep '/'."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    out = []
    for b in data:
        if b in _UNRESERVED or (keep_slash and b == 0x2F):
            out.append(chr(b))
        else:
            out.append("%%%02X" % b)
    return "".join(out)


def normalize_path(path: str) -> str:
    """Remove '.' and '..' segments and collapse repeated slashes (non-S3 services only)."""
    if not path:
        return "/"
    segments = path.split("/")
    out: list[str] = []
    for seg in segments:
        if seg in ("", "."):
            continue
        if seg == "..":
            if out:
                out.pop()
            continue
        out.append(seg)
    result = "/" + "/".join(out)
    if path.endswith("/") and result != "/":
        result += "/"
    return result


def canonical_uri(raw_path: str, normalize: bool = True, s3: bool = False) -> str:
    """Canonical URI of the path as it appeared on the wire.

    Non-S3 services encode the (already encoded) wire path once more; S3 uses the wire path
    as is and never normalises it (aws-apis.md section 4.2).
    """
    if s3:
        return raw_path or "/"
    path = normalize_path(raw_path) if normalize else (raw_path or "/")
    return uri_encode(path, keep_slash=True)


def canonical_query(query: str) -> str:
    """Canonical query string: decode, re-encode with the unreserved set, sort by key then value."""
    if not query:
        return ""
    pairs = []
    for part in query.split("&"):
        if part == "":
            continue
        key, _, value = part.partition("=")
        pairs.append((uri_encode(unquote(key)), uri_encode(unquote(value))))
    pairs.sort()
    return "&".join(f"{k}={v}" for k, v in pairs)


def _canonical_value(value: str) -> str:
    # Trim, fold continuation lines and collapse inner runs of spaces to one.
    return re.sub(r"\s+", " ", value.strip())


def canonical_headers(header_pairs: list[tuple[str, str]], signed: list[str]) -> str:
    """'name:value\\n' lines for the signed headers; repeated headers joined with ',' in request order."""
    values: dict[str, list[str]] = {}
    for name, value in header_pairs:
        values.setdefault(name.lower(), []).append(_canonical_value(value))
    lines = []
    for name in signed:
        lines.append(f"{name}:{','.join(values.get(name, []))}\n")
    return "".join(lines)


def canonical_request(method: str, raw_path: str, query: str, header_pairs: list[tuple[str, str]],
                      signed: list[str], payload_hash: str, normalize: bool = True, s3: bool = False) -> str:
    """The six-line canonical request of aws-apis.md section 4.1."""
    return "\n".join([
        method.upper(),
        canonical_uri(raw_path, normalize=normalize, s3=s3),
        canonical_query(query),
        canonical_headers(header_pairs, signed),
        ";".join(signed),
        payload_hash,
    ])


def string_to_sign(amz_date: str, scope: str, creq: str) -> str:
    """AWS4-HMAC-SHA256 + date + scope + hex SHA-256 of the canonical request."""
    return "\n".join([ALGORITHM, amz_date, scope, hashlib.sha256(creq.encode("utf-8")).hexdigest()])


def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    """HMAC chain "AWS4"+secret -> date -> region -> service -> aws4_request."""
    k = hmac.new(("AWS4" + secret).encode("utf-8"), date.encode("utf-8"), hashlib.sha256).digest()
    for part in (region, service, "aws4_request"):
        k = hmac.new(k, part.encode("utf-8"), hashlib.sha256).digest()
    return k


def signature(secret: str, date: str, region: str, service: str, sts: str) -> str:
    """Hex HMAC-SHA256 of the string to sign with the derived key."""
    return hmac.new(signing_key(secret, date, region, service), sts.encode("utf-8"), hashlib.sha256).hexdigest()


class AuthError(Exception):
    """A SigV4 failure, carrying the AWS error code and message the sink answers with."""

    def __init__(self, code: str, message: str, status: int = 400):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status


@dataclass
class ParsedAuthorization:
    """The fields of an `Authorization: AWS4-HMAC-SHA256 ...` header."""

    access_key_id: str
    date: str
    region: str
    service: str
    terminator: str
    signed_headers: list[str]
    signature: str

    @property
    def scope(self) -> str:
        return f"{self.date}/{self.region}/{self.service}/{self.terminator}"


def parse_authorization(value: str) -> ParsedAuthorization:
    """Parse the Authorization header, raising IncompleteSignatureException on malformed input."""
    value = value.strip()
    if not value.startswith(ALGORITHM + " "):
        raise AuthError("IncompleteSignatureException",
                        f"Authorization header requires the {ALGORITHM} algorithm "
                        f"(got '{value.split(' ')[0][:40]}').")
    fields: dict[str, str] = {}
    for part in value[len(ALGORITHM) + 1:].split(","):
        part = part.strip()
        if not part:
            continue
        key, sep, val = part.partition("=")
        if not sep:
            raise AuthError("IncompleteSignatureException",
                            f"Authorization header requires 'key=value' parameters; got '{part[:40]}'.")
        fields[key.strip()] = val.strip()
    for required in ("Credential", "SignedHeaders", "Signature"):
        if required not in fields:
            raise AuthError("IncompleteSignatureException",
                            f"Authorization header requires '{required}' parameter. "
                            f"Authorization={ALGORITHM} ...")
    cred = fields["Credential"].split("/")
    if len(cred) != 5 or not all(cred):
        raise AuthError("IncompleteSignatureException",
                        "Credential must have exactly 5 slash-delimited elements, "
                        "e.g. keyid/date/region/service/term.")
    signed = fields["SignedHeaders"].split(";")
    if not re.fullmatch(r"[0-9a-f]{64}", fields["Signature"]):
        raise AuthError("IncompleteSignatureException", "Signature must be 64 lower-case hex characters.")
    return ParsedAuthorization(cred[0], cred[1], cred[2], cred[3], cred[4], signed, fields["Signature"])


@dataclass
class Credential:
    """A secret the verifier knows, with the session token it must be presented with (if any)."""

    access_key_id: str
    secret_access_key: str
    session_token: str | None
    principal_arn: str
    expired: bool = False


def _fmt(ts: _dt.datetime) -> str:
    return ts.strftime("%Y%m%dT%H%M%SZ")


def verify(method: str, raw_target: str, header_pairs: list[tuple[str, str]], body: bytes, *,
           service: str, region: str | None, lookup, now: _dt.datetime | None = None,
           max_skew: _dt.timedelta | None = _dt.timedelta(minutes=5), normalize: bool = True) -> Credential:
    """Verify a SigV4 header-signed request; return the matching credential or raise AuthError.

    `lookup(access_key_id)` returns a Credential or None.  `region=None` accepts any region.
    Messages follow the wording AWS JSON services use (InvalidSignatureException,
    UnrecognizedClientException, IncompleteSignatureException, ExpiredTokenException).
    """
    headers_lc: dict[str, list[str]] = {}
    for name, value in header_pairs:
        headers_lc.setdefault(name.lower(), []).append(value)
    auth_values = headers_lc.get("authorization")
    if not auth_values:
        raise AuthError("MissingAuthenticationTokenException", "Missing Authentication Token")
    auth = parse_authorization(auth_values[0])
    if auth.terminator != "aws4_request":
        raise AuthError("IncompleteSignatureException",
                        f"Credential should be scoped with a valid terminator: 'aws4_request', not '{auth.terminator}'.")
    if auth.service != service:
        raise AuthError("InvalidSignatureException",
                        f"Credential should be scoped to correct service: '{service}'.")
    if region is not None and auth.region != region:
        raise AuthError("InvalidSignatureException",
                        f"Credential should be scoped to a valid region, not '{auth.region}'.")
    if "host" not in auth.signed_headers:
        raise AuthError("IncompleteSignatureException",
                        "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")
    for name in auth.signed_headers:
        if name != name.lower() or name not in headers_lc:
            raise AuthError("IncompleteSignatureException",
                            f"SignedHeaders names a header the request does not carry (or not lower-case): '{name}'.")
    if auth.signed_headers != sorted(auth.signed_headers):
        raise AuthError("IncompleteSignatureException", "SignedHeaders must be sorted.")
    amz_dates = headers_lc.get("x-amz-date")
    if not amz_dates:
        raise AuthError("IncompleteSignatureException",
                        "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
    amz_date = amz_dates[0].strip()
    try:
        req_time = _dt.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=_dt.timezone.utc)
    except ValueError:
        raise AuthError("IncompleteSignatureException",
                        f"X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"; got '{amz_date}'.")
    if auth.date != amz_date[:8]:
        raise AuthError("InvalidSignatureException",
                        f"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
                        f"'{auth.date}' != '{amz_date[:8]}', from '{amz_date}'.")
    if now is None:
        now = _dt.datetime.now(_dt.timezone.utc)
    if max_skew is not None:
        if req_time < now - max_skew:
            raise AuthError("InvalidSignatureException",
                            f"Signature expired: {amz_date} is now earlier than {_fmt(now - max_skew)} "
                            f"({_fmt(now)} - 5 min.)")
        if req_time > now + max_skew:
            raise AuthError("InvalidSignatureException",
                            f"Signature not yet current: {amz_date} is still later than {_fmt(now + max_skew)} "
                            f"({_fmt(now)} + 5 min.)")
    cred = lookup(auth.access_key_id)
    if cred is None:
        raise AuthError("UnrecognizedClientException", "The security token included in the request is invalid.")
    sent_token = headers_lc.get("x-amz-security-token", [None])[0]
    if cred.session_token is not None or sent_token is not None:
        if sent_token != cred.session_token:
            raise AuthError("UnrecognizedClientException", "The security token included in the request is invalid.")
    if cred.expired:
        raise AuthError("ExpiredTokenException", "The security token included in the request is expired")

    path, _, query = raw_target.partition("?")
    payload_hash = hashlib.sha256(body).hexdigest()
    creq = canonical_request(method, path, query, header_pairs, auth.signed_headers, payload_hash,
                             normalize=normalize)
    sts = string_to_sign(amz_date, auth.scope, creq)
    expected = signature(cred.secret_access_key, auth.date, auth.region, auth.service, sts)
    if not hmac.compare_digest(expected, auth.signature):
        raise AuthError("InvalidSignatureException",
                        "The request signature we calculated does not match the signature you provided. "
                        "Check your AWS Secret Access Key and signing method. Consult the service documentation "
                        "for details.\n\nThe Canonical String for this request should have been\n'" + creq +
                        "'\n\nThe String-to-Sign should have been\n'" + sts + "'\n")
    return cred
