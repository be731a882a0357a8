"""Writes the ingest sample events in events/: one API Gateway REST API (v1 proxy) event per
Content-Type / Content-Encoding combination, as the stack's REST API (binary media type */*)
delivers them, plus the text cases a front without binary pass-through produces, and the HTTP API
(payload 2.0) text event. Run from the repo root: python3 infra/ingest_events.py
tests/infra/test_events.py checks the files against the fixtures; functions/ingest/tests/events.rs
feeds each through lambda_http into the handler's request parsing and core's ingest."""
import base64
import json
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "tailscale"
EVENTS = ROOT / "events"
AUTH = "Basic " + base64.b64encode(b"user:example-token").decode()
PATH = "/services/collector/event"
EPOCH = 1741108869412

# name -> (fixture, content-type, content-encoding or None, how the body reaches Lambda, expected status)
#   "base64": the exact bytes, base64 (REST API with binary media type */*: every body)
#   "text":   the body as UTF-8 text, isBase64Encoded false (a front without binary pass-through;
#             lossless only for text bodies)
#   "text-decoded": a compressed body a front decoded as UTF-8 text (invalid bytes -> U+FFFD), as
#             an HTTP API does for application/json: the original bytes are lost
CASES = {
    "ingest-rest-json-identity.json": ("audit-stream.hec", "application/json", None, "base64", 200),
    "ingest-rest-json-gzip.json": ("network-stream.hec.gz", "application/json", "gzip", "base64", 200),
    "ingest-rest-json-zstd.json": ("audit-stream.hec.zst", "application/json", "zstd", "base64", 200),
    "ingest-rest-octet-stream-gzip.json": ("network-stream.hec.gz", "application/octet-stream", "gzip", "base64", 200),
    "ingest-rest-octet-stream-zstd.json": ("audit-stream.hec.zst", "application/octet-stream", "zstd", "base64", 200),
    "ingest-rest-text-json-identity.json": ("audit-stream.hec", "application/json", None, "text", 200),
    "ingest-rest-text-decoded-gzip.json": ("network-stream.hec.gz", "application/json", "gzip", "text-decoded", 415),
    "ingest-rest-text-decoded-zstd.json": ("audit-stream.hec.zst", "text/plain", "zstd", "text-decoded", 415),
}


def body_of(fixture: str, mode: str):
    raw = (FIXTURES / fixture).read_bytes()
    if mode == "base64":
        return base64.b64encode(raw).decode(), True, len(raw)
    if mode == "text":
        return raw.decode("utf-8"), False, len(raw)
    assert mode == "text-decoded"
    return raw.decode("utf-8", errors="replace"), False, len(raw)


def rest_event(name, fixture, content_type, encoding, mode):
    body, b64, length = body_of(fixture, mode)
    headers = {
        "Accept-Encoding": "gzip",
        "Authorization": AUTH,
        "Content-Length": str(length),
        "Content-Type": content_type,
        "Host": "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com",
        "User-Agent": "Go-http-client/2.0",
        "X-Amzn-Trace-Id": "Root=1-67c73725-3f0e0c1b5a7d4e2f9c8b6a41",
        "X-Forwarded-For": "203.0.113.10",
        "X-Forwarded-Port": "443",
        "X-Forwarded-Proto": "https",
    }
    if encoding:
        headers["Content-Encoding"] = encoding
    return {
        "resource": "/{proxy+}",
        "path": PATH,
        "httpMethod": "POST",
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": {"proxy": PATH.lstrip("/")},
        "stageVariables": None,
        "requestContext": {
            "resourceId": "x1y2z3",
            "resourcePath": "/{proxy+}",
            "httpMethod": "POST",
            "extendedRequestId": "GkL3xhT2IAMFaBc=",
            "requestTime": "04/Mar/2025:17:21:09 +0000",
            "path": "/ingest" + PATH,
            "accountId": "123456789012",
            "protocol": "HTTP/1.1",
            "stage": "ingest",
            "domainPrefix": "a1b2c3d4e5",
            "requestTimeEpoch": EPOCH,
            "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
            "identity": {
                "cognitoIdentityPoolId": None,
                "accountId": None,
                "cognitoIdentityId": None,
                "caller": None,
                "sourceIp": "203.0.113.10",
                "principalOrgId": None,
                "accessKey": None,
                "cognitoAuthenticationType": None,
                "cognitoAuthenticationProvider": None,
                "userArn": None,
                "userAgent": "Go-http-client/2.0",
                "user": None,
            },
            "domainName": "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com",
            "deploymentId": "d4e5f6",
            "apiId": "a1b2c3d4e5",
        },
        "body": body,
        "isBase64Encoded": b64,
    }


def http_api_event():
    """HTTP API payload 2.0 for application/json: the body arrives as text (isBase64Encoded false)."""
    body, _, length = body_of("audit-stream.hec", "text")
    return {
        "version": "2.0",
        "routeKey": "POST /services/collector/event",
        "rawPath": PATH,
        "rawQueryString": "",
        "headers": {
            "accept-encoding": "gzip",
            "authorization": AUTH,
            "content-length": str(length),
            "content-type": "application/json",
            "host": "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com",
            "user-agent": "Go-http-client/2.0",
            "x-forwarded-for": "203.0.113.10",
            "x-forwarded-port": "443",
            "x-forwarded-proto": "https",
        },
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "a1b2c3d4e5",
            "domainName": "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "a1b2c3d4e5",
            "http": {"method": "POST", "path": PATH, "protocol": "HTTP/1.1", "sourceIp": "203.0.113.10", "userAgent": "Go-http-client/2.0"},
            "requestId": "GkL3xhT2IAMEVhA=",
            "routeKey": "POST /services/collector/event",
            "stage": "$default",
            "time": "04/Mar/2025:17:21:09 +0000",
            "timeEpoch": EPOCH,
        },
        "body": body,
        "isBase64Encoded": False,
    }


def main():
    for name, (fixture, ctype, enc, mode, _) in CASES.items():
        (EVENTS / name).write_text(json.dumps(rest_event(name, fixture, ctype, enc, mode), indent=2, ensure_ascii=False) + "\n")
    (EVENTS / "ingest-apigw-v2-text.json").write_text(json.dumps(http_api_event(), indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
