"""Calls the local server under AWS_IAM auth with boto3, which signs every call (SigV4).

Run by tests/local_door.rs (boto3_with_the_right_and_a_wrong_secret):

    python3 tests/boto3_signed.py http://127.0.0.1:7000 ACCESS_KEY_ID SECRET_ACCESS_KEY

Prints one JSON object: for invoke_with_response_stream ("stream") and invoke ("invoke"),
the HTTP status, and either the PayloadChunks (each with the seconds since the call when
boto3 yielded it) or the error code boto3 raised.
"""

import json
import sys
import time

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError


def refused(error):
    return {
        "status": error.response["ResponseMetadata"]["HTTPStatusCode"],
        "code": error.response["Error"]["Code"],
        "message": error.response["Error"].get("Message"),
    }


def stream(client):
    started = time.monotonic()
    try:
        reply = client.invoke_with_response_stream(FunctionName="local", Payload=b"{}")
    except ClientError as error:
        return refused(error)
    seen = {"status": reply["ResponseMetadata"]["HTTPStatusCode"], "chunks": [], "times": []}
    for event in reply["EventStream"]:
        if "PayloadChunk" in event:
            seen["chunks"].append(event["PayloadChunk"]["Payload"].decode())
            seen["times"].append(time.monotonic() - started)
    return seen


def invoke(client):
    try:
        reply = client.invoke(FunctionName="local", Payload=b"{}")
    except ClientError as error:
        return refused(error)
    return {"status": reply["StatusCode"], "payload": reply["Payload"].read().decode()}


def main():
    client = boto3.client(
        "lambda",
        endpoint_url=sys.argv[1],
        region_name="us-east-1",
        aws_access_key_id=sys.argv[2],
        aws_secret_access_key=sys.argv[3],
        config=Config(retries={"max_attempts": 1}, read_timeout=30),
    )
    print(json.dumps({"stream": stream(client), "invoke": invoke(client)}))


if __name__ == "__main__":
    main()
