#!/usr/bin/env python3
"""Writes the seed corpora of every fuzz target into fuzz/corpus/<target>/ from the shared
corpus of real workflows (../../shared/corpus, or $CORPUS), the project's fixtures, the example
configuration and the minimised crash inputs under fuzz/regressions/. Run from anywhere; the
corpora are not committed (cargo fuzz grows them)."""

import glob
import hashlib
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
    regressions()
    for target in sorted(os.listdir(os.path.join(HERE, "corpus"))):
        print(target, len(os.listdir(os.path.join(HERE, "corpus", target))))
