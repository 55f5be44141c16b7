"""OpenAI's other endpoints as the fake answers them: audio (speech, transcriptions, translations), images,
moderations, files and batches. Multipart bodies are summarised in the request log (fields, and for each
file its name, size and sha256) so tests can assert what reached the provider."""

from __future__ import annotations

import hashlib
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

from aiohttp import web

from .control_api import STATE
from .reply import new_id, now
from .respond import Call, error_response, json_response

PNG_B64 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
SPEECH_BYTES = 256 * 1024  # big enough to arrive in several pieces


def parse_multipart(raw: bytes, content_type: str) -> tuple[dict[str, str], dict[str, tuple[str, bytes]]]:
    """(text fields, files as name -> (filename, bytes)) of a multipart/form-data body."""
    message = BytesParser(policy=HTTP).parsebytes(b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + raw)
    fields: dict[str, str] = {}
    files: dict[str, tuple[str, bytes]] = {}
    if not message.is_multipart():
        return fields, files
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        data = part.get_payload(decode=True) or b""
        filename = part.get_filename()
        if filename is not None:
            files[name] = (filename, data)
        else:
            fields[name] = data.decode("utf-8", "replace")
    return fields, files


def multipart_summary(raw: bytes, content_type: str) -> dict[str, Any]:
    fields, files = parse_multipart(raw, content_type)
    summary: dict[str, Any] = dict(fields)
    summary["_files"] = {
        name: {"filename": filename, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
        for name, (filename, data) in files.items()
    }
    return summary


def speech_bytes(text: str) -> bytes:
    """Deterministic 'audio' for a text: tests compare what they got with this."""
    seed = hashlib.sha256(text.encode()).digest()
    return (b"ID3" + seed * (SPEECH_BYTES // len(seed) + 1))[:SPEECH_BYTES]


async def speech(call: Call) -> web.StreamResponse:
    text = call.body.get("input")
    if not call.model or not isinstance(text, str):
        return error_response(call, 400, "Missing required parameter: 'input'.")
    data = speech_bytes(text)
    resp = web.StreamResponse(headers={"Content-Type": "audio/mpeg"})
    await resp.prepare(call.request)
    for i in range(0, len(data), 16384):
        await resp.write(data[i : i + 16384])
    await resp.write_eof()
    return resp


async def transcription(call: Call) -> web.StreamResponse:
    file = (call.body.get("_files") or {}).get("file")
    if not file or not call.model:
        return error_response(call, 400, "Missing required parameter: 'file'.")
    return json_response(call, {"text": f"{file['size']} bytes of {file['filename']} heard by {call.model}"})


async def image(call: Call) -> web.StreamResponse:
    prompt = call.body.get("prompt")
    if not isinstance(prompt, str):
        return error_response(call, 400, "Missing required parameter: 'prompt'.")
    return json_response(call, {"created": now(), "data": [{"b64_json": PNG_B64, "revised_prompt": prompt}]})


async def moderation(call: Call) -> web.StreamResponse:
    text = call.body.get("input")
    flagged = isinstance(text, str) and "kill" in text
    scores = {"violence": 0.9 if flagged else 0.01}
    result = {"flagged": flagged, "categories": {"violence": flagged}, "category_scores": scores}
    model = call.model or "omni-moderation-latest"
    return json_response(call, {"id": new_id("modr-"), "model": model, "results": [result]})


async def upload_file(call: Call) -> web.StreamResponse:
    raw = await call.request.read()
    fields, files = parse_multipart(raw, call.request.headers.get("Content-Type", ""))
    if "file" not in files or "purpose" not in fields:
        return error_response(call, 400, "Missing required parameter: 'file' and 'purpose' are required.")
    filename, data = files["file"]
    file = {
        "id": new_id("file-"), "object": "file", "bytes": len(data), "created_at": now(), "filename": filename,
        "purpose": fields["purpose"], "status": "processed", "status_details": None,
    }
    call.request.app[STATE].files[file["id"]] = (file, data)
    return json_response(call, file)


def _file(call: Call) -> tuple[dict[str, Any], bytes] | web.Response:
    file_id = call.request.match_info["id"]
    found = call.request.app[STATE].files.get(file_id)
    return found if found is not None else error_response(call, 404, f"No such File object: {file_id}")


async def list_files(call: Call) -> web.StreamResponse:
    data = [file for file, _ in call.request.app[STATE].files.values()]
    return json_response(call, {"object": "list", "data": data, "has_more": False})


async def get_file(call: Call) -> web.StreamResponse:
    found = _file(call)
    return found if isinstance(found, web.Response) else json_response(call, found[0])


async def file_content(call: Call) -> web.StreamResponse:
    found = _file(call)
    if isinstance(found, web.Response):
        return found
    return web.Response(body=found[1], content_type="application/octet-stream")


async def delete_file(call: Call) -> web.StreamResponse:
    found = _file(call)
    if isinstance(found, web.Response):
        return found
    del call.request.app[STATE].files[found[0]["id"]]
    return json_response(call, {"id": found[0]["id"], "object": "file", "deleted": True})


async def create_batch(call: Call) -> web.StreamResponse:
    body = call.body
    file_id = body.get("input_file_id")
    if file_id not in call.request.app[STATE].files:
        return error_response(call, 400, f"Invalid 'input_file_id': '{file_id}'.")
    batch = {
        "id": new_id("batch_"), "object": "batch", "endpoint": body.get("endpoint"), "errors": None,
        "input_file_id": file_id, "completion_window": body.get("completion_window", "24h"),
        "status": "validating", "output_file_id": None, "error_file_id": None, "created_at": now(),
        "in_progress_at": None, "expires_at": now() + 86400, "finalizing_at": None, "completed_at": None,
        "failed_at": None, "expired_at": None, "cancelling_at": None, "cancelled_at": None,
        "request_counts": {"total": 0, "completed": 0, "failed": 0}, "metadata": body.get("metadata"),
    }
    call.request.app[STATE].batches[batch["id"]] = batch
    return json_response(call, batch)


async def get_batch(call: Call) -> web.StreamResponse:
    batch = call.request.app[STATE].batches.get(call.request.match_info["id"])
    if batch is None:
        return error_response(call, 404, f"No batch found with id '{call.request.match_info['id']}'.")
    if call.request.path.endswith("/cancel"):
        batch.update(status="cancelling", cancelling_at=now())
    return json_response(call, batch)


async def list_batches(call: Call) -> web.StreamResponse:
    data = list(call.request.app[STATE].batches.values())
    return json_response(call, {"object": "list", "data": data, "has_more": False})
