"""A central system built on the `ocpp` package, an independent OCPP-J implementation, for joule's
charging station to connect to over OCPP 1.6.

joule's interop test (`crates/station/tests/interop_python_csms.rs`) runs

    csms_central.py

and points the station's OCPP link at ws://127.0.0.1:PORT/ocpp. The central system listens on
127.0.0.1 with a port the system picks, offers only the `ocpp1.6` subprotocol, and takes each
station at /ocpp/{id}. Every station is the package's own server-side `v16.ChargePoint`, which
validates every message both ways against the package's copies of the OCA schemas. It answers:

    BootNotification  Accepted, heartbeat interval 300 s
    Heartbeat         the current time
    StatusNotification, MeterValues
    Authorize         Accepted
    StartTransaction  Accepted, with transaction ids 1, 2, 3, ... in the order they arrive
    StopTransaction   Accepted
    DiagnosticsStatusNotification, FirmwareStatusNotification, SecurityEventNotification,
    LogStatusNotification, SignedFirmwareStatusNotification
    SignCertificate   Accepted

It prints one JSON line per event to stdout:

    {"event": "listening", "port": N}
    {"event": "connected", "id": STATION}
    {"event": "received", "id": STATION, "action": ACTION, "payload": {...}, "response": {...}}
    {"event": "rejected", "id": STATION, "action": ACTION, "payload": {...}, "error": "..."}
    {"event": "answer", "action": ACTION, "payload": {...}}
    {"event": "disconnected", "id": STATION, "reason": "..."}
    {"event": "error", "error": "..."}

`received` follows a valid CALL once the answer, `response`, has been sent. `rejected` means the
station sent something the package refused: a CALL that fails schema validation, an action without
a handler, unparsable OCPP-J, a handler that failed, or an answer to our CALL that is a CALLERROR,
fails validation or does not come in time. A refused CALL still gets the package's CALLERROR.
`payload` is the message as it arrived, in OCPP's camelCase.

The test sends commands on stdin, one JSON object per line; they go to the station that connected
last:

    {"cmd": "remote_start", "connectorId": 1, "idTag": "T"}  RemoteStartTransaction, then "answer"
    {"cmd": "remote_stop", "transactionId": N}               RemoteStopTransaction, then "answer"
    {"cmd": "call", "action": A, "payload": {...}}          any 1.6 CALL A (payload in camelCase),
                                                             then "answer"
    {"cmd": "offline"}                                       close every station connection and
                                                             refuse new ones with HTTP 503
    {"cmd": "online"}                                        accept stations again
    {"cmd": "quit"}                                          stop serving and exit

The end of stdin counts as quit. The exit status is 0 unless the central system failed, a command
was malformed or a station's message was rejected; errors also go to stderr, with every frame.
"""

import asyncio
import dataclasses
import decimal
import itertools
import json
import logging
import sys
from http import HTTPStatus
from datetime import datetime, timezone

import websockets
from ocpp import v16
from ocpp.charge_point import camel_to_snake_case, remove_nones, snake_to_camel_case
from ocpp.exceptions import OCPPError
from ocpp.messages import CallResult, unpack
from ocpp.routing import on

SUBPROTOCOL = "ocpp1.6"
PATH_PREFIX = "/ocpp/"
HEARTBEAT_INTERVAL = 300
# How long the central system waits for a station's answer to one CALL, in seconds.
RESPONSE_TIMEOUT = 15

LOG = logging.getLogger("csms_central")


def emit(event, **fields):
    """Prints one event line for the test."""
    print(json.dumps({"event": event, **fields}, default=plain), flush=True)


def plain(value):
    """JSON for what the package hands back beyond plain types: the 1.6 schedule answers are
    validated as `Decimal`s."""
    if isinstance(value, decimal.Decimal):
        return float(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


def now():
    """The current time in UTC, as OCPP wants it: ISO 8601 with a Z."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def camel_case(result):
    """A call result as OCPP sends it: camelCase keys, unset optional fields left out."""
    return snake_to_camel_case(remove_nones(dataclasses.asdict(result)))


class Central:
    """What all stations share: the transaction counter, the last station to connect, and whether
    anything was rejected."""

    def __init__(self):
        self.transaction_ids = itertools.count(1)
        self.latest = None
        self.failed = False
        self.offline = False
        self.connections = set()

    def reject(self, station_id, action, payload, error):
        self.failed = True
        LOG.error("%s: rejected %s %s: %s", station_id, action, payload, error)
        emit("rejected", id=station_id, action=action, payload=payload, error=error)


class Station(v16.ChargePoint):
    """One connected charge point, seen from the central system."""

    def __init__(self, central, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.central = central

    async def route_message(self, raw_msg):
        try:
            unpack(raw_msg)
        except OCPPError as error:
            self.central.reject(self.id, None, raw_msg, describe(error))
            return
        await super().route_message(raw_msg)

    async def _handle_call(self, msg):
        try:
            response = await super()._handle_call(msg)
        except OCPPError as error:
            # The package answers with a CALLERROR once this is re-raised.
            self.central.reject(self.id, msg.action, msg.payload, describe(error))
            raise
        if not isinstance(response, CallResult):
            # A handler raised; the package answered with a CALLERROR and logged why.
            self.central.reject(self.id, msg.action, msg.payload, "the handler failed, see stderr")
            return response
        payload, answer = msg.payload, response.payload
        emit("received", id=self.id, action=msg.action, payload=payload, response=answer)
        return response

    async def command(self, request):
        """Sends one CALL of the operator and prints the station's answer."""
        action = type(request).__name__
        try:
            result = await self.call(request, suppress=False)
        except (OCPPError, asyncio.TimeoutError) as error:
            self.central.reject(self.id, action, dataclasses.asdict(request), describe(error))
            return
        except Exception as error:  # noqa: BLE001 - reported, never lost in a dead task
            LOG.exception("%s: %s failed", self.id, action)
            self.central.reject(self.id, action, dataclasses.asdict(request), describe(error))
            return
        emit("answer", action=action, payload=camel_case(result))

    @on(v16.enums.Action.boot_notification)
    def on_boot_notification(self, **_):
        return v16.call_result.BootNotification(
            current_time=now(),
            interval=HEARTBEAT_INTERVAL,
            status=v16.enums.RegistrationStatus.accepted,
        )

    @on(v16.enums.Action.heartbeat)
    def on_heartbeat(self, **_):
        return v16.call_result.Heartbeat(current_time=now())

    @on(v16.enums.Action.status_notification)
    def on_status_notification(self, **_):
        return v16.call_result.StatusNotification()

    @on(v16.enums.Action.authorize)
    def on_authorize(self, **_):
        return v16.call_result.Authorize(id_tag_info=accepted())

    @on(v16.enums.Action.start_transaction)
    def on_start_transaction(self, **_):
        return v16.call_result.StartTransaction(
            transaction_id=next(self.central.transaction_ids), id_tag_info=accepted()
        )

    @on(v16.enums.Action.meter_values)
    def on_meter_values(self, **_):
        return v16.call_result.MeterValues()

    @on(v16.enums.Action.stop_transaction)
    def on_stop_transaction(self, **_):
        return v16.call_result.StopTransaction(id_tag_info=accepted())

    @on(v16.enums.Action.diagnostics_status_notification)
    def on_diagnostics_status_notification(self, **_):
        return v16.call_result.DiagnosticsStatusNotification()

    @on(v16.enums.Action.firmware_status_notification)
    def on_firmware_status_notification(self, **_):
        return v16.call_result.FirmwareStatusNotification()

    @on(v16.enums.Action.security_event_notification)
    def on_security_event_notification(self, **_):
        return v16.call_result.SecurityEventNotification()

    @on(v16.enums.Action.sign_certificate)
    def on_sign_certificate(self, **_):
        return v16.call_result.SignCertificate(status=v16.enums.GenericStatus.accepted)

    @on(v16.enums.Action.log_status_notification)
    def on_log_status_notification(self, **_):
        return v16.call_result.LogStatusNotification()

    @on(v16.enums.Action.signed_firmware_status_notification)
    def on_signed_firmware_status_notification(self, **_):
        return v16.call_result.SignedFirmwareStatusNotification()


def accepted():
    return v16.datatypes.IdTagInfo(status=v16.enums.AuthorizationStatus.accepted)


def describe(error):
    return f"{type(error).__name__}: {error}"


async def serve_station(central, connection):
    """Runs one station's connection until it closes."""
    path = connection.request.path
    station_id = path[len(PATH_PREFIX) :] if path.startswith(PATH_PREFIX) else ""
    if not station_id or "/" in station_id:
        LOG.error("refused a connection to %s", path)
        await connection.close(code=1008, reason="expected /ocpp/{id}")
        return
    if connection.subprotocol != SUBPROTOCOL:
        LOG.error("%s: subprotocol %r, not %s", station_id, connection.subprotocol, SUBPROTOCOL)
        await connection.close(code=1002, reason=f"only {SUBPROTOCOL} is offered")
        return
    central.connections.add(connection)
    station = Station(central, station_id, connection, response_timeout=RESPONSE_TIMEOUT)
    central.latest = station
    emit("connected", id=station_id)
    try:
        await station.start()
    except websockets.ConnectionClosed as closed:
        # A connection closed by going offline is expected; any other loss is reported.
        event = "dropped" if central.offline else "disconnected"
        emit(event, id=station_id, reason=str(closed))
    except Exception as error:
        central.failed = True
        LOG.exception("%s: the connection failed", station_id)
        emit("error", id=station_id, error=describe(error))
    finally:
        central.connections.discard(connection)
        if central.latest is station:
            central.latest = None


def refuse_when_offline(central, connection):
    """While offline, the handshake is answered with HTTP 503."""
    if central.offline:
        return connection.respond(HTTPStatus.SERVICE_UNAVAILABLE, "offline\n")
    return None


def parse_command(line):
    """The CALL a command line asks for, or None for quit."""
    command = json.loads(line)
    name = command.get("cmd")
    if name == "remote_start":
        return v16.call.RemoteStartTransaction(
            id_tag=command["idTag"], connector_id=command.get("connectorId")
        )
    if name == "remote_stop":
        return v16.call.RemoteStopTransaction(transaction_id=command["transactionId"])
    if name == "call":
        request = getattr(v16.call, command["action"])
        return request(**camel_to_snake_case(command.get("payload", {})))
    if name in ("offline", "online"):
        return name
    if name == "quit":
        return None
    raise ValueError(f"unknown command {name!r}")


async def commands(central):
    """Carries out the commands on stdin until quit or its end."""
    reader = asyncio.StreamReader()
    loop = asyncio.get_running_loop()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    pending = set()
    while line := await reader.readline():
        if not line.strip():
            continue
        try:
            request = parse_command(line)
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise RuntimeError(f"malformed command {line!r}: {error}") from error
        if request is None:
            break
        if request in ("offline", "online"):
            central.offline = request == "offline"
            if central.offline:
                for connection in list(central.connections):
                    await connection.close(code=1001, reason="going offline")
            emit(request)
            continue
        if central.latest is None:
            raise RuntimeError(f"no station is connected for {line.strip()!r}")
        # The answer is printed when it comes; the next command need not wait for it.
        task = asyncio.create_task(central.latest.command(request))
        pending.add(task)
        task.add_done_callback(pending.discard)
    await asyncio.gather(*pending)


async def main():
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    central = Central()
    try:
        async with websockets.serve(
            lambda connection: serve_station(central, connection),
            "127.0.0.1",
            0,
            subprotocols=[SUBPROTOCOL],
            process_request=lambda connection, request: refuse_when_offline(central, connection),
        ) as server:
            port = next(iter(server.sockets)).getsockname()[1]
            emit("listening", port=port)
            await commands(central)
    except Exception as error:
        LOG.exception("the central system failed")
        emit("error", error=describe(error))
        return 1
    return 1 if central.failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
