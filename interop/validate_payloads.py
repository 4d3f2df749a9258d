"""Validates OCPP payloads with the `ocpp` Python package, an independent OCPP-J implementation.

joule's interop test (`crates/proto-ocpp/tests/interop_python.rs`) encodes typed messages and
asks this script whether another implementation's validator accepts them. Each line of stdin is

    {"version": "1.6" | "2.0.1" | "2.1", "action": "...", "kind": "request" | "response",
     "payload": {...}}

and each line of stdout answers the line read, in order: {"ok": true} or {"ok": false,
"error": "..."}. A malformed line gets an error answer too; the exit status is 0 unless stdin
cannot be read.

Validation goes through `ocpp.messages.validate_payload`, the check the package runs on every
message it receives, with the package's own copies of the OCA schemas. The package (2.1.0)
predates the OCPP 2.1 SEND message type: it ships the schema of the one SEND action under the
action's bare name, which `get_validator` loads when given SEND's message type number, 6.
"""

import asyncio
import json
import sys

from jsonschema.exceptions import ValidationError as SchemaValidationError
from ocpp.exceptions import OCPPError
from ocpp.messages import Call, CallResult, get_validator, validate_payload

VERSIONS = ("1.6", "2.0.1", "2.1")
SEND_MESSAGE_TYPE = 6
SEND_ACTIONS = {("2.1", "NotifyPeriodicEventStream")}


async def check(entry):
    """Raises if the entry's payload breaks its schema."""
    version, action, payload = entry["version"], entry["action"], entry["payload"]
    kind = entry["kind"]
    if version not in VERSIONS:
        raise ValueError(f"version must be one of {VERSIONS}, not {version!r}")
    if kind == "request" and (version, action) in SEND_ACTIONS:
        get_validator(SEND_MESSAGE_TYPE, action, version).validate(payload)
    elif kind == "request":
        await validate_payload(Call("interop", action, payload), version)
    elif kind == "response":
        await validate_payload(CallResult("interop", payload, action), version)
    else:
        raise ValueError(f"kind must be 'request' or 'response', not {kind!r}")


def describe(error):
    """A one-line reason: the package's OCPP error code, then the schema violation behind it."""
    code = f"{error.code}: " if isinstance(error, OCPPError) else ""
    violation = error if isinstance(error, SchemaValidationError) else error.__context__
    if isinstance(violation, SchemaValidationError):
        return f"{code}{violation.json_path}: {violation.message} ({violation.validator})"
    if isinstance(error, OCPPError):
        return f"{code}{error.details.get('cause', error.description)}"
    return f"bad input line: {type(error).__name__}: {error}"


async def main():
    for line in sys.stdin:
        try:
            await check(json.loads(line))
            verdict = {"ok": True}
        except (OCPPError, SchemaValidationError, LookupError, TypeError, ValueError) as e:
            verdict = {"ok": False, "error": describe(e)}
        print(json.dumps(verdict), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
