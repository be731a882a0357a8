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


def test_ingest_event_carries_the_fixture_body_and_basic_auth():
    e = load("ingest-apigw-v2.json")
    assert e["version"] == "2.0" and e["isBase64Encoded"] is True
    body = base64.b64decode(e["body"])
    assert body == (FIXTURES / "audit-stream.hec").read_bytes()
    h = e["headers"]
    assert h["content-type"] == "application/json" and int(h["content-length"]) == len(body)
    scheme, creds = h["authorization"].split(" ")
    assert scheme == "Basic" and base64.b64decode(creds) == b"user:example-token"
    assert e["routeKey"] == e["requestContext"]["routeKey"] == "POST /services/collector/event"
    assert e["rawPath"] == e["requestContext"]["http"]["path"] == "/services/collector/event"
    assert e["requestContext"]["http"]["method"] == "POST" and e["requestContext"]["stage"] == "$default"
    routes = {
        f"{ev['Properties']['Method']} {ev['Properties']['Path']}"
        for ev in load_template()["Resources"]["IngestFunction"]["Properties"]["Events"].values()
    }
    assert e["routeKey"] in routes


def test_normalize_event_is_a_raw_bucket_notification_with_an_encoded_key():
    s3 = s3_record(load("normalize-sqs-s3.json"))
    assert s3["s3"]["bucket"]["name"] == "tailwatch-raw-example"
    key = s3["s3"]["object"]["key"]
    # S3 URL-encodes keys in notifications: consumers must decode them (`=` arrives as %3D).
    assert "%3D" in key
    decoded = urllib.parse.unquote_plus(key)
    assert decoded == "raw/tailscale-http/dt=2025-03-04/hour=17/1741108869412-example.ndjson.zst"
    assert decoded.startswith("raw/"), "inside the raw bucket's notification filter"


def test_detect_event_is_a_lake_notification_for_a_firehose_object():
    s3 = s3_record(load("detect-sqs-s3.json"))
    assert s3["s3"]["bucket"]["name"] == "tailwatch-lake-example"
    decoded = urllib.parse.unquote_plus(s3["s3"]["object"]["key"])
    assert decoded == "tailscale_audit/dt=2025-03-04/hour=17/tailwatch-lake-1-2025-03-04-17-21-09-abc.gz"
    template = load_template()
    prefixes = [
        q["Filter"]["S3Key"]["Rules"][0]["Value"]
        for q in template["Resources"]["LakeBucket"]["Properties"]["NotificationConfiguration"]["QueueConfigurations"]
    ]
    assert any(decoded.startswith(p) for p in prefixes)
    # The key has the layout Firehose's dynamic-partitioning prefix produces.
    prefix = template["Resources"]["LakeFirehose"]["Properties"]["ExtendedS3DestinationConfiguration"]["Prefix"]
    pattern = re.escape(prefix)
    for part, rx in [("table", r"[a-z_]+"), ("dt", r"\d{4}-\d{2}-\d{2}"), ("hour", r"\d{2}")]:
        pattern = pattern.replace(re.escape(f"!{{partitionKeyFromQuery:{part}}}"), rx)
    assert re.match(pattern + r"[^/]+\.gz$", decoded)


def test_s3_test_event():
    [record] = load("normalize-s3-test-event.json")["Records"]
    body = json.loads(record["body"])
    assert body["Event"] == "s3:TestEvent" and body["Service"] == "Amazon S3"
    assert body["Bucket"] == "tailwatch-raw-example"
    assert "Records" not in body
