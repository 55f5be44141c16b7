"""Per-request CPU the cloud providers add in the gateway: SigV4 signing (botocore) and request translation.

Run: ``python bench/cloud_costs.py``; prints the best of 3 runs of 5000 calls each, in microseconds.
"""

from __future__ import annotations

import timeit

import orjson
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from bifrost.providers.bedrock.translate import openai_to_converse_request
from bifrost.providers.cohere.translate import openai_to_cohere_request

BODY = {
    "messages": [{"role": "system", "content": "Be terse."}, {"role": "user", "content": "x" * 1000}],
    "max_tokens": 100,
}
URL = "https://bedrock-runtime.us-east-1.amazonaws.com/model/anthropic.claude-3-5-sonnet-20241022-v2%3A0/converse"


def main() -> None:
    signer = SigV4Auth(Credentials("AKIDEXAMPLE", "secret", "token"), "bedrock", "us-east-1")
    payload = orjson.dumps(openai_to_converse_request(BODY))

    def sign() -> None:
        request = AWSRequest(method="POST", url=URL, data=payload, headers={"Content-Type": "application/json"})
        signer.add_auth(request)

    cases = {
        "SigV4 signing, 1 KB body (botocore)": sign,
        "Bedrock Converse request translation": lambda: openai_to_converse_request(BODY),
        "Cohere v2 request translation": lambda: openai_to_cohere_request(BODY, "command-r-plus"),
    }
    for name, fn in cases.items():
        seconds = min(timeit.repeat(fn, number=5000, repeat=3)) / 5000
        print(f"{name}: {seconds * 1e6:.1f} us")


if __name__ == "__main__":
    main()
