"""Calls the local server with boto3's invoke_with_response_stream, as against AWS.

Run by tests/integration/local_server.rs (boto3_invoke_with_response_stream) when boto3 is installed:

    python3 tests/boto3_invoke_stream.py http://127.0.0.1:7000 [CASES]

and by cli/tests/host.rs against `lambda-stream local`, with CASES `ok`. Prints one JSON
object: for a normal invocation ("ok") and one that fails midway ("failed"), or the CASES
named (comma-separated),
the HTTP status, each PayloadChunk's payload with the seconds since the call when boto3
yielded it, and the InvokeComplete event.
"""

import json
import sys
import time

import boto3
from botocore.config import Config


def invoke(client, payload):
    started = time.monotonic()
    reply = client.invoke_with_response_stream(
        FunctionName="local", Payload=json.dumps(payload).encode()
    )
    seen = {
        "status": reply["ResponseMetadata"]["HTTPStatusCode"],
        "chunks": [],
        "times": [],
        "complete": None,
    }
    for event in reply["EventStream"]:
        if "PayloadChunk" in event:
            seen["chunks"].append(event["PayloadChunk"]["Payload"].decode())
            seen["times"].append(time.monotonic() - started)
        elif "InvokeComplete" in event:
            seen["complete"] = event["InvokeComplete"]
    return seen


def main():
    client = boto3.client(
        "lambda",
        endpoint_url=sys.argv[1],
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
        config=Config(retries={"max_attempts": 1}, read_timeout=30),
    )
    payloads = {"ok": {"hello": "world"}, "failed": "fail"}
    cases = sys.argv[2].split(",") if len(sys.argv) > 2 else list(payloads)
    report = {case: invoke(client, payloads[case]) for case in cases}
    print(json.dumps(report))


if __name__ == "__main__":
    main()
