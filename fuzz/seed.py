#!/usr/bin/env python3
"""Writes the seed corpora of every fuzz target into fuzz/corpus/<target>/ from the shared
corpus of real workflows (../../shared/corpus, or $CORPUS), the project's fixtures, the example
configuration, instance events (a real binary group, groups made by a small encoder of Kogito's
layout, JSON events as SonataFlow sends them) and the minimised crash inputs under
fuzz/regressions/. Run from anywhere; the
corpora are not committed (cargo fuzz grows them)."""

import base64
import glob
import gzip
import hashlib
import struct
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SHARED = os.environ.get("CORPUS", os.path.join(ROOT, "..", "..", "shared", "corpus"))
if not os.path.isdir(SHARED):
    SHARED = "/work/shared/corpus"
MAX = 256 * 1024


def write(target, data):
    folder = os.path.join(HERE, "corpus", target)
    os.makedirs(folder, exist_ok=True)
    name = hashlib.sha1(data).hexdigest()
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


def read(path):
    with open(path, "rb") as f:
        return f.read()


def pack(files):
    return b"\xff".join(p.encode() + b"\xfe" + c for p, c in files)


def workflow_files():
    roots = [os.path.join(SHARED, "workflows"), os.path.join(ROOT, "fixtures"), os.path.join(ROOT, "tests", "fixtures")]
    for root in roots:
        for path in glob.glob(os.path.join(root, "**", "*"), recursive=True):
            lower = path.lower()
            if os.path.isfile(path) and lower.endswith((".sw.json", ".sw.yaml", ".sw.yml", ".yaml", ".yml")):
                if os.path.getsize(path) <= MAX:
                    yield path


NAMES = [".sw.json", ".sw.yaml", "cr.yaml", ".sw.yml"]


def parse_workflow():
    for path in workflow_files():
        lower = path.lower()
        kind = 0 if lower.endswith(".json") else 1 if lower.endswith(".sw.yaml") else 2
        write("parse_workflow", bytes([kind]) + read(path))


def folders():
    """Each folder holding a workflow, with the files a schema may reference: the folder's own
    files and its subfolders', plus the nearest src/main/resources, paths relative to it."""
    seen = set()
    for path in workflow_files():
        if not path.lower().endswith((".sw.json", ".sw.yaml", ".sw.yml")):
            continue
        folder = os.path.dirname(path)
        base = folder
        parts = folder.split(os.sep)
        if "resources" in parts:
            base = os.sep.join(parts[: parts.index("resources") + 1])
        if base in seen:
            continue
        seen.add(base)
        files, total = [], 0
        for f in sorted(glob.glob(os.path.join(base, "**", "*"), recursive=True)):
            if os.path.isfile(f) and f.lower().endswith((".json", ".yaml", ".yml")):
                content = read(f)
                if total + len(content) > MAX:
                    continue
                total += len(content)
                files.append((os.path.relpath(f, base).replace(os.sep, "/"), content))
        if files:
            yield files


def multi_file():
    for files in folders():
        write("map_render", pack(files))
        write("resolve_schema", pack(files))


def webhook():
    bodies = [
        {"ref": "refs/heads/main", "after": "a" * 40, "repository": {"clone_url": "https://github.com/acme/flows.git", "html_url": "https://github.com/acme/flows"}},
        {"object_kind": "push", "ref": "refs/tags/v1", "checkout_sha": "b" * 40, "after": "c" * 40,
         "project": {"git_http_url": "https://gitlab.com/acme/flows.git", "git_ssh_url": "git@gitlab.com:acme/flows.git", "web_url": "https://gitlab.com/acme/flows"}},
        {"zen": "ping", "hook_id": 1},
    ]
    for body in bodies:
        data = json.dumps(body).encode()
        write("webhook", b"sha256=" + b"0" * 64 + b"\xff" + data)
        write("webhook", b"fuzz-secret\xff" + data)


def cloudevent():
    event = {"specversion": "1.0", "id": "1", "source": "http://greeting/greeting", "type": "ProcessDefinitionEvent",
             "datacontenttype": "application/json", "kogitoprocid": "greeting",
             "data": {"id": "greeting", "version": "1.0", "type": "SW", "endpoint": "http://greeting/greeting"}}
    write("cloudevent", b"content-type: application/cloudevents+json\xff" + json.dumps(event).encode())
    write("cloudevent", b"content-type: application/cloudevents-batch+json\xff" + json.dumps([event, dict(event, type="other")]).encode())
    head = "content-type: application/json\nce-specversion: 1.0\nce-id: 2\nce-source: s\nce-type: ProcessDefinitionEvent\nce-kogitoprocid: greeting\n"
    write("cloudevent", head.encode() + b"\xff" + json.dumps(event["data"]).encode())


def data_index():
    fields = ["id", "version", "name", "type", "endpoint", "serviceUrl", "description", "annotations", "metadata", "source"]
    introspection = {"data": {
        "__schema": {"queryType": {"fields": [{"name": "ProcessDefinitions", "args": [{"name": a} for a in ["where", "orderBy", "pagination"]]}]}},
        "definition": {"fields": [{"name": f} for f in fields]},
        "argument": {"inputFields": [{"name": f} for f in ["or", "and", "id", "version", "type"]]}}}
    write("data_index", json.dumps(introspection).encode())
    count = 0
    for path in workflow_files():
        if not path.lower().endswith((".sw.json", ".sw.yaml", ".sw.yml")) or count >= 300:
            continue
        count += 1
        source = read(path).decode("utf-8", "replace")
        row = {"id": os.path.basename(path).split(".")[0], "version": "1.0", "name": "n", "type": "SW",
               "endpoint": "http://svc/x", "serviceUrl": "http://svc", "description": "d",
               "annotations": ["workflow-type/infrastructure"], "metadata": {"status": "available"}, "source": source}
        write("data_index", json.dumps({"data": {"ProcessDefinitions": [row, dict(row, version="1.10")]}}).encode())
    write("data_index", json.dumps({"errors": [{"message": "Validation error", "extensions": {"classification": "ValidationError"}}], "data": None}).encode())


def config():
    example = read(os.path.join(ROOT, "config", "example.yaml"))
    write("config", example)
    write("config", example + b"\xffSOURCES__0__TYPE=dir\nSOURCES__0__PATH=/tmp\nTEMPLATES__OWNER=group:default/x\n")
    write("config", b"sources:\n  - {type: git, url: https://example.com/r.git, ref: main}\n\xffSYNC__INTERVAL=5m\n")


# The real capture of kie-issues#2113 (tests/instance_events.rs,
# `the_encoder_reproduces_the_real_capture_and_the_reader_reads_it`): a 10.1 runtime's binary
# group, flags 1, 15 events, quoted as far as 780 bytes (cut in the third event's id).
CAPTURE = base64.b64decode(
    "Bw//ABF0b2tlbi1wcm9wYWdhdGlvbgAkOGE1OGY2YTYtM2QxNC00MjllLWI1ODYtZGRmMTVjMTY2ODFkAAMxLjAAATEBAAJTVwAAAAAAAQAAAZl2q91DADhodHRwOi8vdG9rZW4tcHJvcGFnYXRpb24ucmhkaC1vcGVyYXRvci90b2tlbi1wcm9wYWdhdGlvbgEAw3Byb21ldGhldXMtbW9uaXRvcmluZyxtb25pdG9yaW5nLG1pY3JvcHJvZmlsZS1jb25maWctc2VydmljZS1jYXRhbG9nLHNvdXJjZS1maWxlcyxjbG91ZGV2ZW50cyxqb2JzLWtuYXRpdmUtZXZlbnRpbmcsamRiYy1wZXJzaXN0ZW5jZSxrbmF0aXZlLXNlcnZpbmcscHJvY2Vzcy1tYW5hZ2VtZW50LGt1YmVybmV0ZXMsa25hdGl2ZS1ldmVudGluZwAcUHJvY2Vzc0luc3RhbmNlTm9kZURhdGFFdmVudAcAAAMxLjAAJDVmNmM2ZTc2LTQyYjUtNGM4Yy1iZWExLTMwNWExNDg0ZWU0MgABABBhcHBsaWNhdGlvbi9qc29uAAEHAQEABTE0XzEyAAIxMgEAJmdldFdpdGhTaW1wbGVCZWFyZXJUb2tlblNlY3VyaXR5U2NoZW1lAAxXb3JrSXRlbU5vZGUAJDdjNmM5ZGYzLTdhYTktNDkxZi04NThjLWIxZjRiZmI2NjJiOQAAAgAAAAJ7fQgAAAAcUHJvY2Vzc0luc3RhbmNlTm9kZURhdGFFdmVudAcBAAMxLjAAJGQxNTkzY2UzLTg2NzQtNDdkNC1hMGZiLWI4YjEzMjM4NWQ3YwABABBhcHBsaWNhdGlvbi9qc29uAAEHAQEABTEyXzEzAAIxMwEABlNjcmlwdAAKQWN0aW9uTm9kZQAkYzA5NWIwMDMtNjRlZi00Y2MxLTkzZDEtYjgwOWQ5MzkyYjc0AAACAAAAAnt9CAAAABxQcm9jZXNzSW5zdGFuY2VOb2RlRGF0YUV2ZW50BwEAAzEuMAAk"
)


def capture_complete():
    """The capture cut where its third event starts (byte 740: the marker 00, the type, delta
    07 01, "1.0", then the id's length 00 24 and the cut id), its count rewritten from 15 to 2:
    a complete group of the two node events."""
    third = b"\x00" + utf("ProcessInstanceNodeDataEvent") + b"\x07\x01" + utf("1.0") + b"\x00\x24"
    assert len(CAPTURE) == 780 and CAPTURE[740:] == third, "the capture's third event is not at byte 740"
    assert CAPTURE[:2] == b"\x07\x0f"
    return b"\x07\x02" + CAPTURE[2:740]


# A minimal encoder of binary groups (../shared/sonataflow-events/README.md §6, as
# tests/support/kogito_binary.rs): Java DataOutputStream, big-endian.
def jint(n):
    if n < 127:
        return b"\x07" + struct.pack(">b", n)
    if n < 32767:
        return b"\x05" + struct.pack(">h", n)
    return b"\x04" + struct.pack(">i", n)


def integer(n):
    return b"\x00" if n is None else jint(n)


def utf(s):
    data = bytearray()
    for unit in struct.unpack(f">{len(s.encode('utf-16-be')) // 2}H", s.encode("utf-16-be")):
        if 1 <= unit <= 0x7F:
            data.append(unit)
        elif unit <= 0x7FF:
            data += bytes([0xC0 | unit >> 6, 0x80 | unit & 0x3F])
        else:
            data += bytes([0xE0 | unit >> 12, 0x80 | unit >> 6 & 0x3F, 0x80 | unit & 0x3F])
    return struct.pack(">H", len(data)) + bytes(data)


def nutf(s):
    return b"\x00" if s is None else b"\x01" + utf(s)


def date(millis):
    return b"\x00" if millis is None else b"\x01" + struct.pack(">q", millis)


def json_object(text, kind=1):
    return bytes([kind]) + struct.pack(">i", len(text)) + text.encode()


def record(workflow, instance, millis):
    return (utf(workflow) + utf(instance) + utf("1.0") + utf("1") + nutf("SW") + b"\x00" * 5 + date(millis)
            + utf(f"http://{workflow}.sonataflow-infra/{workflow}") + nutf("jobs-management,prometheus-monitoring"))


def state_body(event_type, state, flags):
    body = integer(event_type) + nutf("A workflow") + integer(state) + jint(-1) + date(None)
    if flags & 2:
        body += nutf(None) + nutf(None)
    return body


def node_body(flags):
    body = (integer(1) + nutf("1_2") + utf("2") + nutf("Script") + utf("ActionNode")
            + utf("c095b003-64ef-4cc1-93d1-b809d9392b74") + nutf(None) + date(None) + json_object('{"k":[1]}', 2))
    if flags & 1:
        body += b"\x08\x00"
    if flags & 4:
        body += json_object('{"name":"x"}') + b"\x00"
    return body


BODIES = {
    "state": "ProcessInstanceStateDataEvent", "error": "ProcessInstanceErrorDataEvent",
    "node": "ProcessInstanceNodeDataEvent", "variable": "ProcessInstanceVariableDataEvent",
    "sla": "ProcessInstanceSLADataEvent",
}


def group(flags, records, events):
    """`events`: (record index, id, kind, body bytes or None, time delta)."""
    out = bytearray(jint(len(events)))
    written = {}
    for index, event_id, kind, body, delta in events:
        if index in written:
            out.append(written[index])
        else:
            out.append(0xFF)
            out += records[index]
            written[index] = len(written)
        out += utf(BODIES[kind]) + jint(delta) + utf("1.0") + utf(event_id) + nutf(None) + nutf("application/json") + nutf(None)
        out += b"\x00" if body is None else b"\x01" + body
    return bytes(out)


def binary_groups():
    t = 1_772_445_600_000
    records = [record("onboarding", "7d1f3c1e-2f6b-4c1d-9a55-3c2b1f0e9d01", t), record("provision", "I-2\u00e9", t + 5)]
    for flags in (0, 1, 7):
        yield flags, group(flags, records, [
            (0, "a1", "state", state_body(1, 1, flags), 0),
            (0, "a2", "node", node_body(flags), 1),
            (1, "b1", "state", state_body(1, 1, flags), 0),
            (0, "a3", "variable", nutf("1") + nutf(None) + nutf("v") + utf("v") + json_object("{}"), 2),
            (1, "b2", "error", utf("2") + utf("n") + utf("java.net.ConnectException - Connection refused"), 3),
            (1, "b3", "sla", utf("2") + nutf(None) + utf("ActionNode") + utf("n") + date(t), 4),
            (0, "a4", "state", state_body(2, 2, flags), 90_000),
            (1, "b4", "state", state_body(2, 3, flags), 60_000),
            (0, "a5", "node", None, 5),
        ])
    # Three instances started, more than the fuzz target's tracker keeps.
    yield 7, group(7, [record("onboarding", f"I{i}", t) for i in range(3)],
                   [(i, f"s{i}", "state", state_body(1, 1, 7), 0) for i in range(3)])


def instance_json():
    """Instance events in the shapes of ../shared/sonataflow-events/README.md §8."""
    def state(event_id, instance, event_type, state_code, date_value="2026-03-02T10:15:30.118+00:00"):
        return {"specversion": "1.0", "id": event_id, "source": "http://onboarding.sonataflow-infra/onboarding",
                "type": "ProcessInstanceStateDataEvent", "time": "2026-03-02T10:15:30.120845Z",
                "datacontenttype": "application/json", "kogitoprocinstanceid": instance, "kogitoprocid": "onboarding",
                "kogitoprocversion": "1.0", "kogitoprocist": str(state_code), "kogitoproctype": "SW",
                "kogitoaddons": "jobs-management,prometheus-monitoring,process-management,source-files",
                "data": {"eventDate": date_value, "eventUser": None, "eventType": event_type, "processId": "onboarding",
                         "processVersion": "1.0", "processType": "SW", "processInstanceId": instance, "businessKey": None,
                         "processName": "Onboarding", "parentInstanceId": None, "rootProcessId": None,
                         "rootProcessInstanceId": None, "state": state_code, "roles": None, "slaDueDate": None,
                         "cloudEventId": None, "cloudEventSource": None}}
    started = state("0b4a6c0e", "7d1f3c1e", 1, 1)
    completed = state("0b4a6c0f", "7d1f3c1e", 2, 2, "2026-03-02T10:17:00.5+00:00")
    aborted = state("0b4a6c10", "8e2a", 2, 3, 1772446000000)
    error = {"specversion": "1.0", "id": "5c0e", "source": "http://onboarding.sonataflow-infra/onboarding",
             "type": "ProcessInstanceErrorDataEvent", "time": "2026-03-02T10:16:02.5Z", "datacontenttype": "application/json",
             "kogitoprocinstanceid": "9a0c", "kogitoprocid": "onboarding", "kogitoprocversion": "1.0", "kogitoprocist": "5",
             "data": {"eventDate": "2026-03-02T10:16:02.497+00:00", "eventUser": None, "processId": "onboarding",
                      "processVersion": "1.0", "processInstanceId": "9a0c", "nodeDefinitionId": "2", "nodeInstanceId": "e1f2",
                      "errorMessage": "java.net.ConnectException - Connection refused"}}
    node = {"specversion": "1.0", "id": "n1", "source": "http://provision.sonataflow-infra/provision",
            "type": "ProcessInstanceNodeDataEvent", "kogitoprocid": "provision", "data": {"nodeName": "Script"}}
    kogito_1x = {"specversion": "1.0", "id": "k1", "source": "http://old/old", "type": "ProcessInstanceEvent",
                 "data": {"id": "x", "state": 2}}
    structured = b"content-type: application/cloudevents+json\xff"
    for event in (started, completed, aborted, error, node, kogito_1x):
        write("instance_events", b"\x01" + structured + json.dumps(event).encode())
    batch = b"\x01content-type: application/cloudevents-batch+json\xff"
    write("instance_events", batch + json.dumps([started, node, error, completed, started]).encode())
    write("instance_events", batch + json.dumps([started, aborted, {"specversion": "1.0", "id": "d", "source": "s",
        "type": "ProcessDefinitionEvent", "data": {"id": "onboarding"}}, kogito_1x]).encode())
    json_group = {"specversion": "1.0", "id": "41d2", "source": "http://provision.sonataflow-infra/provision",
                  "type": "MultipleProcessInstanceDataEvent", "time": "2026-03-02T10:17:00.02Z",
                  "data": [started, node, aborted, error]}
    write("instance_events", b"\x01" + structured + json.dumps(json_group).encode())
    # Binary HTTP mode: the ce-* headers, the body the event's data.
    head = ("content-type: application/json\nce-specversion: 1.0\nce-id: 0b4a6c11\n"
            "ce-source: http://onboarding.sonataflow-infra/onboarding\nce-type: ProcessInstanceStateDataEvent\n"
            "ce-kogitoprocid: onboarding\nce-kogitoprocinstanceid: 7d1f3c1e\n")
    body = dict(started["data"], processId=None, processInstanceId=None)
    write("instance_events", b"\x01" + head.encode() + b"\xff" + json.dumps(body).encode())


def instance_events():
    payloads = [(1, CAPTURE), (1, capture_complete())] + list(binary_groups())
    for flags, payload in payloads:
        # A raw group as each delivery and compression (mode byte: bit 0 clear, see the target).
        for mode in (0b00000, 0b01000, 0b10000, 0b00100, 0b01010):
            write("instance_events", bytes([mode, flags]) + payload)
        write("instance_events", bytes([0b00110, flags]) + gzip.compress(payload, mtime=0))
        # The envelope a runtime POSTs (README §6) and a broker's binary-mode redelivery.
        envelope = {"datacontenttype": "application/octet-stream", "source": "http://onboarding.sonataflow-infra/onboarding",
                    "id": "2b964bd6", "specversion": "1.0", "type": "MultipleProcessInstanceDataEvent",
                    "data": base64.b64encode(payload).decode(), "marshallflags": flags}
        write("instance_events", b"\x01content-type: application/cloudevents+json\xff" + json.dumps(envelope).encode())
        head = ("content-type: application/octet-stream\nce-specversion: 1.0\nce-id: g\nce-source: s\n"
                f"ce-type: MultipleProcessInstanceDataEvent\nce-marshallflags: {flags}\nce-compressdata: true\n")
        write("instance_events", b"\x01" + head.encode() + b"\xff" + base64.b64encode(gzip.compress(payload, mtime=0)))
    instance_json()


def regressions():
    for path in glob.glob(os.path.join(HERE, "regressions", "*", "*")):
        write(os.path.basename(os.path.dirname(path)), read(path))


if __name__ == "__main__":
    parse_workflow()
    multi_file()
    webhook()
    cloudevent()
    data_index()
    config()
    instance_events()
    regressions()
    for target in sorted(os.listdir(os.path.join(HERE, "corpus"))):
        print(target, len(os.listdir(os.path.join(HERE, "corpus", target))))
