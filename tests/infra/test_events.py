"""The sample Lambda events in events/ are shaped like what AWS delivers and agree with the
template (routes, notification prefixes, Firehose's key layout) and the fixtures."""
import base64
import hashlib
import json
import re
import urllib.parse

from conftest import FIXTURES
from infra_support import ROOT, load_template

EVENTS = ROOT / "events"


def load(name):
    return json.loads((EVENTS / name).read_text())


def s3_record(sqs_event):
    [record] = sqs_event["Records"]
    assert record["eventSource"] == "aws:sqs"
    assert record["md5OfBody"] == hashlib.md5(record["body"].encode()).hexdigest()
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    body = json.loads(record["body"])
    [s3] = body["Records"]
    assert s3["eventSource"] == "aws:s3" and s3["eventName"].startswith("ObjectCreated:")
    return s3


import sys  # noqa: E402

sys.path.insert(0, str(ROOT / "infra"))
import ingest_events  # noqa: E402


def rest_routes():
    return {
        (ev["Properties"]["Method"], ev["Properties"]["Path"])
        for ev in load_template()["Resources"]["IngestFunction"]["Properties"]["Events"].values()
    }


def test_ingest_events_are_current_and_one_per_combination():
    """events/ingest-*.json are what infra/ingest_events.py writes (run it after changing it)."""
    names = sorted(p.name for p in EVENTS.glob("ingest-*.json"))
    assert names == sorted([*ingest_events.CASES, "ingest-apigw-v2-text.json"])
    for name, (fixture, ctype, enc, mode, _) in ingest_events.CASES.items():
        assert load(name) == json.loads(json.dumps(ingest_events.rest_event(name, fixture, ctype, enc, mode))), name
    assert load("ingest-apigw-v2-text.json") == json.loads(json.dumps(ingest_events.http_api_event()))
    combos = {(ctype, enc, mode) for _, ctype, enc, mode, _ in ingest_events.CASES.values()}
    # Both Content-Types that matter (JSON, which an HTTP API would text-decode, and binary), each
    # Content-Encoding, the exact bytes (base64) and the text cases.
    for ctype in ("application/json", "application/octet-stream"):
        for enc in ("gzip", "zstd"):
            assert (ctype, enc, "base64") in combos
    assert ("application/json", None, "base64") in combos and ("application/json", None, "text") in combos
    assert {enc for _, enc, mode in combos if mode == "text-decoded"} == {"gzip", "zstd"}


def test_rest_events_carry_the_fixture_bytes_and_basic_auth():
    for name, (fixture, ctype, enc, mode, status) in ingest_events.CASES.items():
        e = load(name)
        # The REST API (v1 proxy) event shape, on a route of the template.
        assert e["httpMethod"] == "POST" and e["requestContext"]["httpMethod"] == "POST"
        assert e["resource"] == e["requestContext"]["resourcePath"] == "/{proxy+}"
        assert ("ANY", e["resource"]) in rest_routes()
        assert e["requestContext"]["stage"] == "ingest"
        assert e["requestContext"]["path"] == "/ingest" + e["path"]
        h = e["headers"]
        assert {k: [v] for k, v in h.items()} == e["multiValueHeaders"]
        assert h["Content-Type"] == ctype and h.get("Content-Encoding") == enc
        scheme, creds = h["Authorization"].split(" ")
        assert scheme == "Basic" and base64.b64decode(creds) == b"user:example-token"
        raw = (FIXTURES / fixture).read_bytes()
        assert int(h["Content-Length"]) == len(raw)
        if mode == "base64":
            # Binary media type */*: every body base64, byte-exact, whatever the Content-Type.
            assert e["isBase64Encoded"] is True and base64.b64decode(e["body"]) == raw, name
            assert status == 200
        elif mode == "text":
            assert e["isBase64Encoded"] is False and e["body"].encode() == raw, name
            assert status == 200
        else:
            # What a front that decodes bodies as UTF-8 hands on: the compressed bytes are lost.
            body = e["body"].encode()
            assert e["isBase64Encoded"] is False and body != raw and b"\xef\xbf\xbd" in body, name
            assert not body.startswith((b"\x1f\x8b", b"\x28\xb5\x2f\xfd"))
            assert status == 415


def test_http_api_event_is_text_for_json():
    """An HTTP API sends an application/json body as text (isBase64Encoded false), never base64."""
    e = load("ingest-apigw-v2-text.json")
    assert e["version"] == "2.0" and e["isBase64Encoded"] is False
    assert e["headers"]["content-type"] == "application/json"
    assert e["body"].encode() == (FIXTURES / "audit-stream.hec").read_bytes()
    assert e["routeKey"] == e["requestContext"]["routeKey"] == "POST /services/collector/event"


def test_normalize_event_is_a_raw_bucket_notification_with_an_encoded_key():
    s3 = s3_record(load("normalize-sqs-s3.json"))
    assert s3["s3"]["bucket"]["name"] == "tailwatch-raw-example"
    key = s3["s3"]["object"]["key"]
    # S3 URL-encodes keys in notifications: consumers must decode them (`=` arrives as %3D).
    assert "%3D" in key
    decoded = urllib.parse.unquote_plus(key)
    assert decoded == "raw/tailscale-http/dt=2025-03-04/hour=17/1741108869412-example.ndjson.zst"
    assert decoded.startswith("raw/"), "inside the raw bucket's notification filter"


def test_detect_event_is_the_same_raw_batch_notification_fanned_out():
    detect = load("detect-sqs-s3.json")["Records"][0]
    normalize = load("normalize-sqs-s3.json")["Records"][0]
    # SNS raw message delivery: both queues get the S3 notification itself, byte for byte.
    assert detect["body"] == normalize["body"]
    assert "DetectQueue" in detect["eventSourceARN"] and "RawQueue" in normalize["eventSourceARN"]
    template = load_template()
    subs = {
        name: r["Properties"]
        for name, r in template["Resources"].items()
        if r["Type"] == "AWS::SNS::Subscription" and r["Properties"]["TopicArn"] == {"Ref": "RawEventsTopic"}
    }
    assert {s["Endpoint"]["Fn::GetAtt"][0] for s in subs.values()} == {"RawQueue", "DetectQueue"}
    assert all(s["RawMessageDelivery"] is True and s["Protocol"] == "sqs" for s in subs.values())


def test_s3_test_event():
    [record] = load("normalize-s3-test-event.json")["Records"]
    body = json.loads(record["body"])
    assert body["Event"] == "s3:TestEvent" and body["Service"] == "Amazon S3"
    assert body["Bucket"] == "tailwatch-raw-example"
    assert "Records" not in body
