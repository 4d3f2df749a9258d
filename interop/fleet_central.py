"""A central system built on the `ocpp` package, an independent OCPP-J implementation, for joule's
load generator (`joule sim fleet`) to run against.

joule's fleet interop test (`crates/fleet/tests/against_python.rs`) runs

    fleet_central.py

and points the fleet at ws://127.0.0.1:PORT/ocpp. The central system listens on 127.0.0.1 with a
port the system picks, takes each station at /ocpp/{id} and speaks whichever of `ocpp1.6`,
`ocpp2.0.1` and `ocpp2.1` the station offers. Every station is the package's own server-side
`ChargePoint` of that version, which validates every message against the package's copies of the
OCA schemas. It answers:

    BootNotification      Accepted, heartbeat interval 300 s
    Heartbeat             the current time
    StatusNotification, MeterValues
    Authorize             Accepted
    StartTransaction      (1.6) Accepted, transaction ids 1, 2, 3, ... in the order they arrive
    StopTransaction       (1.6) Accepted
    TransactionEvent      (2.x) Accepted when it carries a token

Unlike `csms_central.py` it prints nothing per message, only:

    {"event": "listening", "port": N}
    {"event": "summary", "connections": N, "disconnections": N, "calls": {ACTION: N, ...},
     "rejected": N, "errors": [...], "transactions": {"started": N, "stopped": N,
     "duplicate_starts": N, "duplicate_stops": N, "unknown_stops": N}}

`rejected` counts messages the package refused (schema violations, unknown actions, unparsable
frames, failed handlers); the first few reasons are in `errors`. A transaction is started by a 1.6
StartTransaction or a 2.x TransactionEvent Started and stopped by a StopTransaction or Ended;
`duplicate_*` counts a second start or stop of the same transaction, `unknown_stops` a stop of a
transaction never started.

The summary is printed when a line `quit` arrives on stdin, or stdin ends; the exit status is 0
unless the central system itself failed.
"""

import asyncio
import itertools
import json
import logging
import sys
from collections import Counter
from datetime import datetime, timezone

import websockets
from ocpp import v16, v21, v201
from ocpp.exceptions import OCPPError
from ocpp.messages import CallResult, unpack
from ocpp.routing import on

PATH_PREFIX = "/ocpp/"
HEARTBEAT_INTERVAL = 300
SUBPROTOCOLS = ["ocpp2.1", "ocpp2.0.1", "ocpp1.6"]
# How many refusal reasons the summary keeps.
MAX_ERRORS = 20

LOG = logging.getLogger("fleet_central")


def emit(event, **fields):
    """Prints one event line for the test."""
    print(json.dumps({"event": event, **fields}), flush=True)


def now():
    """The current time in UTC, as OCPP wants it: ISO 8601 with a Z."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Central:
    """What all stations share: counters and the transactions seen."""

    def __init__(self):
        self.connections = 0
        self.disconnections = 0
        self.calls = Counter()
        self.rejected = 0
        self.errors = []
        self.transaction_ids = itertools.count(1)
        self.started = set()
        self.stopped = set()
        self.duplicate_starts = 0
        self.duplicate_stops = 0
        self.unknown_stops = 0

    def reject(self, station_id, action, reason):
        self.rejected += 1
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(f"{station_id}: {action}: {reason}")
        LOG.error("%s: rejected %s: %s", station_id, action, reason)

    def start(self, key):
        if key in self.started:
            self.duplicate_starts += 1
        self.started.add(key)

    def stop(self, key):
        if key not in self.started:
            self.unknown_stops += 1
        elif key in self.stopped:
            self.duplicate_stops += 1
        self.stopped.add(key)

    def summary(self):
        emit(
            "summary",
            connections=self.connections,
            disconnections=self.disconnections,
            calls=dict(sorted(self.calls.items())),
            rejected=self.rejected,
            errors=self.errors,
            transactions={
                "started": len(self.started),
                "stopped": len(self.stopped),
                "duplicate_starts": self.duplicate_starts,
                "duplicate_stops": self.duplicate_stops,
                "unknown_stops": self.unknown_stops,
            },
        )


class Counting:
    """Counts every valid CALL and every refusal; mixed into each version's ChargePoint."""

    central = None

    async def route_message(self, raw_msg):
        try:
            unpack(raw_msg)
        except OCPPError as error:
            self.central.reject(self.id, None, describe(error))
            return
        await super().route_message(raw_msg)

    async def _handle_call(self, msg):
        try:
            response = await super()._handle_call(msg)
        except OCPPError as error:
            self.central.reject(self.id, msg.action, describe(error))
            raise
        if not isinstance(response, CallResult):
            self.central.reject(self.id, msg.action, "the handler failed, see stderr")
            return response
        self.central.calls[msg.action] += 1
        return response


class Station16(Counting, v16.ChargePoint):
    """An OCPP 1.6 charge point, seen from the central system."""

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
        return v16.call_result.Authorize(id_tag_info=accepted16())

    @on(v16.enums.Action.start_transaction)
    def on_start_transaction(self, **_):
        transaction_id = next(self.central.transaction_ids)
        self.central.start(transaction_id)
        return v16.call_result.StartTransaction(
            transaction_id=transaction_id, id_tag_info=accepted16()
        )

    @on(v16.enums.Action.meter_values)
    def on_meter_values(self, **_):
        return v16.call_result.MeterValues()

    @on(v16.enums.Action.stop_transaction)
    def on_stop_transaction(self, transaction_id, **_):
        self.central.stop(transaction_id)
        return v16.call_result.StopTransaction(id_tag_info=accepted16())


def accepted16():
    return v16.datatypes.IdTagInfo(status=v16.enums.AuthorizationStatus.accepted)


def station_2x(version):
    """The ChargePoint class of a 2.x version of the package, answering what the fleet sends."""

    enums, call_result, datatypes = version.enums, version.call_result, version.datatypes

    def accepted():
        return datatypes.IdTokenInfoType(status=enums.AuthorizationStatusEnumType.accepted)

    class Station2x(Counting, version.ChargePoint):
        @on(enums.Action.boot_notification)
        def on_boot_notification(self, **_):
            return call_result.BootNotification(
                current_time=now(),
                interval=HEARTBEAT_INTERVAL,
                status=enums.RegistrationStatusEnumType.accepted,
            )

        @on(enums.Action.heartbeat)
        def on_heartbeat(self, **_):
            return call_result.Heartbeat(current_time=now())

        @on(enums.Action.status_notification)
        def on_status_notification(self, **_):
            return call_result.StatusNotification()

        @on(enums.Action.authorize)
        def on_authorize(self, **_):
            return call_result.Authorize(id_token_info=accepted())

        @on(enums.Action.meter_values)
        def on_meter_values(self, **_):
            return call_result.MeterValues()

        @on(enums.Action.transaction_event)
        def on_transaction_event(self, event_type, transaction_info, id_token=None, **_):
            key = (self.id, transaction_info["transaction_id"])
            if event_type == "Started":
                self.central.start(key)
            elif event_type == "Ended":
                self.central.stop(key)
            if id_token is None:
                return call_result.TransactionEvent()
            return call_result.TransactionEvent(id_token_info=accepted())

    return Station2x


STATIONS = {
    "ocpp1.6": Station16,
    "ocpp2.0.1": station_2x(v201),
    "ocpp2.1": station_2x(v21),
}


def describe(error):
    return f"{type(error).__name__}: {error}"


async def serve_station(central, connection):
    """Runs one station's connection until it closes."""
    path = connection.request.path
    station_id = path[len(PATH_PREFIX) :] if path.startswith(PATH_PREFIX) else ""
    if not station_id or "/" in station_id:
        await connection.close(code=1008, reason="expected /ocpp/{id}")
        return
    kind = STATIONS.get(connection.subprotocol)
    if kind is None:
        await connection.close(code=1002, reason="no OCPP subprotocol in common")
        return
    station = kind(station_id, connection)
    station.central = central
    central.connections += 1
    try:
        await station.start()
    except websockets.ConnectionClosed:
        pass
    except Exception as error:
        LOG.exception("%s: the connection failed", station_id)
        central.reject(station_id, None, describe(error))
    finally:
        central.disconnections += 1


async def wait_for_quit():
    """Returns when stdin says quit or ends."""
    reader = asyncio.StreamReader()
    loop = asyncio.get_running_loop()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
        if line.strip() == b"quit":
            return


async def main():
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.WARNING,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    central = Central()
    try:
        async with websockets.serve(
            lambda connection: serve_station(central, connection),
            "127.0.0.1",
            0,
            subprotocols=SUBPROTOCOLS,
            # Many stations connect at once in a boot storm.
            backlog=4096,
        ) as server:
            port = next(iter(server.sockets)).getsockname()[1]
            emit("listening", port=port)
            await wait_for_quit()
    except Exception as error:
        LOG.exception("the central system failed")
        emit("error", error=describe(error))
        return 1
    central.summary()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
