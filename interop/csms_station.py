"""A charge point built on the `ocpp` package, an independent OCPP-J implementation, that runs one
charging scenario against joule's central system.

joule's interop test (`crates/csms/tests/interop_python_stations.rs`) starts the central system,
runs this script once per OCPP version and plays the operator over the REST API:

    csms_station.py --url ws://127.0.0.1:PORT/ocpp --id STATION --version 1.6|2.0.1|2.1 \
        --id-tag TOKEN

The station is the package's own `ChargePoint` of that version (`ocpp.v16`, `ocpp.v201`,
`ocpp.v21`), which validates every message both ways against the package's copies of the OCA
schemas, over the `websockets` library. It connects to URL/STATION offering only the version's
subprotocol, then:

 1. BootNotification, StatusNotification Available on connector 1, Authorize of TOKEN;
 2. starts a transaction (1.6 StartTransaction; 2.x TransactionEvent Started with evse, idToken
    and a meter value) and reports meter values (1.6 MeterValues with several measurands; 2.x
    TransactionEvent Updated);
 3. waits for the operator's remote stop (1.6 RemoteStopTransaction, 2.x
    RequestStopTransaction), answers Accepted and stops the transaction (1.6 StopTransaction
    with meterStop and a Transaction.End reading; 2.x TransactionEvent Ended with the final
    meter value), then sends the same stop again, as a station does when an answer is lost;
 4. waits for the operator's remote start (1.6 RemoteStartTransaction, 2.x
    RequestStartTransaction), answers Accepted, starts a second transaction for the token it was
    given and stops it locally;
 5. closes the WebSocket, reconnects with the same id, boots again and sends a Heartbeat;
 6. stays connected until its stdin closes, then disconnects and exits 0.

Each step prints one JSON line to stdout, in this order, so that the test can follow without
sleeping:

    {"event": "booted", "connection": 1}
    {"event": "status", "status": "Available"}
    {"event": "authorized", "idTag": TOKEN}
    {"event": "transaction", "id": ID, "meterStartWh": WH}
    {"event": "meter_values", "id": ID, "measurands": [...]}
    {"event": "waiting", "for": "remote_stop"}
    {"event": "remote_stop", "transactionId": ID}
    {"event": "stopped", "id": ID, "meterStartWh": WH, "meterStopWh": WH, "samples": N}
    {"event": "stop_retried", "id": ID}
    {"event": "waiting", "for": "remote_start"}
    {"event": "remote_start", "idTag": TOKEN}
    {"event": "transaction", "id": ID, "meterStartWh": WH}
    {"event": "stopped", "id": ID, "meterStartWh": WH, "meterStopWh": WH, "samples": N}
    {"event": "disconnected"}
    {"event": "booted", "connection": 2}
    {"event": "heartbeat"}
    {"event": "done"}

ID is the transaction id: the central system's integer in 1.6, the station's string in 2.x.
`samples` counts the sampled values the station sent for the transaction, retries left out.
Every frame and every error goes to stderr; an unexpected answer, a CALLERROR, a lost connection
or an operator who does not act within a minute ends the script with exit status 1.
"""

import argparse
import asyncio
import json
import logging
import sys
import uuid
from datetime import datetime, timezone

import websockets
from ocpp import v16, v21, v201
from ocpp.routing import after, on

# How long the station waits for the central system's answer to one CALL, in seconds.
RESPONSE_TIMEOUT = 15
# How long the station waits for the operator (a remote stop, a remote start, stdin to close).
OPERATOR_TIMEOUT = 60
CONNECTOR = 1

LOG = logging.getLogger("csms_station")


class ScenarioError(Exception):
    """The central system answered something the scenario does not expect."""


def emit(event, **fields):
    """Prints one event line for the test."""
    print(json.dumps({"event": event, **fields}), flush=True)


def now():
    """The current time in UTC, as OCPP wants it: ISO 8601 with a Z."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def expect(condition, message):
    if not condition:
        raise ScenarioError(message)


class Scripted:
    """What every version's station adds to the package's `ChargePoint`: CALLs that fail loudly,
    and the operator's requests handed from the `@after` hooks to the scenario."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.operator_requests = asyncio.Queue()
        self.active_transaction = None
        self.reader = None

    async def run_until_lost(self):
        """Reads and routes frames; returns, with the reason, when the connection is gone."""
        try:
            await self.start()
        except websockets.ConnectionClosed as closed:
            return closed

    async def guarded(self, awaitable, what, timeout):
        """Awaits `awaitable`, failing if the connection is lost or `timeout` passes first."""
        task = asyncio.ensure_future(awaitable)
        done, _ = await asyncio.wait(
            {task, self.reader}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
        )
        if task in done:
            return task.result()
        task.cancel()
        if self.reader in done:
            raise ScenarioError(f"connection lost while {what}: {self.reader.result()!r}")
        raise ScenarioError(f"no progress within {timeout} s while {what}")

    async def ask(self, payload):
        """Sends a CALL; a CALLERROR or an invalid answer raises."""
        action = type(payload).__name__
        return await self.guarded(
            self.call(payload, suppress=False),
            f"waiting for the answer to {action}",
            RESPONSE_TIMEOUT + 1,
        )

    async def operator(self, action, request):
        """Tells the test to act, then waits for the operator's `action` CALL and returns it."""
        emit("waiting", **{"for": request})
        got, payload = await self.guarded(
            self.operator_requests.get(), f"waiting for the operator's {action}", OPERATOR_TIMEOUT
        )
        expect(got == action, f"expected the operator's {action}, got {got} {payload}")
        return payload

    def remember(self, action, payload):
        """Hands an operator request to the scenario (called once its answer is sent)."""
        self.operator_requests.put_nowait((action, payload))


class Station16(Scripted, v16.ChargePoint):
    @on(v16.enums.Action.remote_stop_transaction)
    def on_remote_stop(self, transaction_id, **_):
        running = transaction_id == self.active_transaction
        status = v16.enums.RemoteStartStopStatus
        return v16.call_result.RemoteStopTransaction(
            status=status.accepted if running else status.rejected
        )

    @after(v16.enums.Action.remote_stop_transaction)
    def after_remote_stop(self, **payload):
        self.remember("RemoteStopTransaction", payload)

    @on(v16.enums.Action.remote_start_transaction)
    def on_remote_start(self, id_tag, connector_id=None, **_):
        free = self.active_transaction is None and connector_id in (None, CONNECTOR)
        status = v16.enums.RemoteStartStopStatus
        return v16.call_result.RemoteStartTransaction(
            status=status.accepted if free else status.rejected
        )

    @after(v16.enums.Action.remote_start_transaction)
    def after_remote_start(self, **payload):
        self.remember("RemoteStartTransaction", payload)


class Station2x(Scripted):
    """The OCPP 2.0.1 and 2.1 handlers; `ocpp` names their messages and types alike."""

    ocpp = None  # The package's module of the version: v201 or v21.

    @on("RequestStopTransaction")
    def on_request_stop(self, transaction_id, **_):
        running = transaction_id == self.active_transaction
        status = self.ocpp.enums.RequestStartStopStatusEnumType
        return self.ocpp.call_result.RequestStopTransaction(
            status=status.accepted if running else status.rejected
        )

    @after("RequestStopTransaction")
    def after_request_stop(self, **payload):
        self.remember("RequestStopTransaction", payload)

    @on("RequestStartTransaction")
    def on_request_start(self, id_token, remote_start_id, evse_id=None, **_):
        free = self.active_transaction is None and evse_id in (None, CONNECTOR)
        status = self.ocpp.enums.RequestStartStopStatusEnumType
        return self.ocpp.call_result.RequestStartTransaction(
            status=status.accepted if free else status.rejected
        )

    @after("RequestStartTransaction")
    def after_request_start(self, **payload):
        self.remember("RequestStartTransaction", payload)


class Station201(Station2x, v201.ChargePoint):
    ocpp = v201


class Station21(Station2x, v21.ChargePoint):
    ocpp = v21


class Session:
    """One WebSocket connection of the station, with the package's `ChargePoint` reading it."""

    def __init__(self, station_class, args):
        self.station_class = station_class
        self.args = args
        self.socket = None
        self.station = None

    async def __aenter__(self):
        subprotocol = SUBPROTOCOLS[self.args.version]
        url = f"{self.args.url.rstrip('/')}/{self.args.id}"
        self.socket = await websockets.connect(
            url, subprotocols=[subprotocol], open_timeout=RESPONSE_TIMEOUT
        )
        if self.socket.subprotocol != subprotocol:
            await self.socket.close()
            raise ScenarioError(f"offered {subprotocol}, got {self.socket.subprotocol!r}")
        self.station = self.station_class(
            self.args.id, self.socket, response_timeout=RESPONSE_TIMEOUT
        )
        self.station.reader = asyncio.create_task(self.station.run_until_lost())
        return self.station

    async def __aexit__(self, *_):
        await self.socket.close()
        self.station.reader.cancel()
        await asyncio.gather(self.station.reader, return_exceptions=True)


# OCPP 1.6 ----------------------------------------------------------------------------------------


def sampled_16(value, measurand, unit, context=None):
    return v16.datatypes.SampledValue(
        value=str(value), measurand=measurand, unit=unit, context=context
    )


async def transaction_16(
    station, id_tag, meter_start, meter_stop, meter_during=None, remote=False
):
    """One 1.6 transaction on CONNECTOR from `meter_start` to `meter_stop` Wh, with MeterValues
    at `meter_during` Wh if given. A `remote` one waits for the operator's stop and sends its
    StopTransaction twice."""
    m, u = v16.enums.Measurand, v16.enums.UnitOfMeasure
    started = await station.ask(
        v16.call.StartTransaction(
            connector_id=CONNECTOR, id_tag=id_tag, meter_start=meter_start, timestamp=now()
        )
    )
    expect(started.id_tag_info["status"] == "Accepted", f"StartTransaction: {started}")
    tx = started.transaction_id
    station.active_transaction = tx
    emit("transaction", id=tx, meterStartWh=meter_start)
    samples = 0
    if meter_during is not None:
        sampled = [
            sampled_16(meter_during, m.energy_active_import_register, u.wh),
            sampled_16(149800, m.power_active_import, u.w),
            sampled_16(402.5, m.voltage, u.v),
            sampled_16(372.2, m.current_import, u.a),
        ]
        await station.ask(
            v16.call.MeterValues(
                connector_id=CONNECTOR,
                transaction_id=tx,
                meter_value=[v16.datatypes.MeterValue(timestamp=now(), sampled_value=sampled)],
            )
        )
        samples += len(sampled)
        emit("meter_values", id=tx, measurands=[s.measurand for s in sampled])

    reason = v16.enums.Reason.remote if remote else v16.enums.Reason.local
    if remote:
        request = await station.operator("RemoteStopTransaction", "remote_stop")
        expect(request["transaction_id"] == tx, f"asked to stop {request}, running {tx}")
        emit("remote_stop", transactionId=request["transaction_id"])
    end = v16.enums.ReadingContext.transaction_end
    final = [sampled_16(meter_stop, m.energy_active_import_register, u.wh, end)]
    stop = v16.call.StopTransaction(
        transaction_id=tx,
        meter_stop=meter_stop,
        timestamp=now(),
        reason=reason,
        id_tag=id_tag,
        transaction_data=[v16.datatypes.MeterValue(timestamp=now(), sampled_value=final)],
    )
    stopped = await station.ask(stop)
    expect(stopped.id_tag_info["status"] == "Accepted", f"StopTransaction: {stopped}")
    samples += len(final)
    station.active_transaction = None
    emit("stopped", id=tx, meterStartWh=meter_start, meterStopWh=meter_stop, samples=samples)
    if remote:
        # The same stop again, as after a lost answer: it must be acknowledged all the same.
        await station.ask(stop)
        emit("stop_retried", id=tx)


async def scenario_16(args):
    boot = v16.call.BootNotification(
        charge_point_vendor="python-ocpp", charge_point_model="interop-16"
    )
    async with Session(Station16, args) as station:
        booted = await station.ask(boot)
        expect(booted.status == "Accepted", f"BootNotification: {booted}")
        emit("booted", connection=1)
        await station.ask(
            v16.call.StatusNotification(
                connector_id=CONNECTOR,
                error_code=v16.enums.ChargePointErrorCode.no_error,
                status=v16.enums.ChargePointStatus.available,
                timestamp=now(),
            )
        )
        emit("status", status="Available")
        authorized = await station.ask(v16.call.Authorize(id_tag=args.id_tag))
        expect(authorized.id_tag_info["status"] == "Accepted", f"Authorize: {authorized}")
        emit("authorized", idTag=args.id_tag)

        await transaction_16(
            station, args.id_tag, 120500, 150700, meter_during=121000, remote=True
        )

        request = await station.operator("RemoteStartTransaction", "remote_start")
        emit("remote_start", idTag=request["id_tag"])
        await transaction_16(station, request["id_tag"], 150700, 152000)
    emit("disconnected")

    async with Session(Station16, args) as station:
        booted = await station.ask(boot)
        expect(booted.status == "Accepted", f"BootNotification after reconnecting: {booted}")
        emit("booted", connection=2)
        await station.ask(v16.call.Heartbeat())
        emit("heartbeat")
        emit("done")
        await station.guarded(stdin_closed(), "waiting for stdin to close", OPERATOR_TIMEOUT)


# OCPP 2.0.1 and 2.1 ------------------------------------------------------------------------------


class Transaction2x:
    """A 2.x transaction on CONNECTOR: numbers its TransactionEvents and counts its samples."""

    def __init__(self, ocpp):
        self.ocpp = ocpp
        self.id = str(uuid.uuid4())
        self.seq_no = 0
        self.samples = 0

    def meter_value(self, context, energy_wh, *others):
        """A meter value read in `context`: the energy register first, then the (measurand,
        value, unit) triples of `others`."""
        types = self.ocpp.datatypes
        energy = (self.ocpp.enums.MeasurandEnumType.energy_active_import_register, energy_wh, "Wh")
        sampled = [
            types.SampledValueType(
                value=float(value),
                context=context,
                measurand=measurand,
                unit_of_measure=types.UnitOfMeasureType(unit=unit),
            )
            for measurand, value, unit in [energy, *others]
        ]
        return types.MeterValueType(timestamp=now(), sampled_value=sampled)

    def event(self, event_type, trigger_reason, meter_value, **fields):
        """The next TransactionEvent, numbered; its samples are counted once."""
        ocpp = self.ocpp
        info = ocpp.datatypes.TransactionType(
            transaction_id=self.id, **fields.pop("transaction_info", {})
        )
        request = ocpp.call.TransactionEvent(
            event_type=event_type,
            timestamp=now(),
            trigger_reason=trigger_reason,
            seq_no=self.seq_no,
            transaction_info=info,
            meter_value=[meter_value],
            **fields,
        )
        self.seq_no += 1
        self.samples += len(meter_value.sampled_value)
        return request


async def transaction_2x(
    station,
    id_token,
    meter_start,
    meter_stop,
    meter_during=None,
    remote=False,
    remote_start_id=None,
):
    """One 2.x transaction on CONNECTOR from `meter_start` to `meter_stop` Wh, with an Updated
    event at `meter_during` Wh if given, started remotely if there is a `remote_start_id`. A
    `remote` one waits for the operator's stop and sends its Ended event twice."""
    ocpp = station.ocpp
    enums, types = ocpp.enums, ocpp.datatypes
    event, trigger = enums.TransactionEventEnumType, enums.TriggerReasonEnumType
    context = enums.ReadingContextEnumType
    tx = Transaction2x(ocpp)
    started_by = trigger.remote_start if remote_start_id is not None else trigger.authorized
    info = {"charging_state": enums.ChargingStateEnumType.charging}
    if remote_start_id is not None:
        info["remote_start_id"] = remote_start_id
    started = await station.ask(
        tx.event(
            event.started,
            started_by,
            tx.meter_value(context.transaction_begin, meter_start),
            transaction_info=info,
            evse=types.EVSEType(id=CONNECTOR, connector_id=CONNECTOR),
            id_token=types.IdTokenType(id_token=id_token["id_token"], type=id_token["type"]),
        )
    )
    expect(
        (started.id_token_info or {}).get("status") == "Accepted",
        f"TransactionEvent Started: {started}",
    )
    station.active_transaction = tx.id
    emit("transaction", id=tx.id, meterStartWh=meter_start)

    if meter_during is not None:
        m = enums.MeasurandEnumType
        meter_value = tx.meter_value(
            context.sample_periodic,
            meter_during,
            (m.power_active_import, 149800, "W"),
            (m.voltage, 402.5, "V"),
            (m.current_import, 372.2, "A"),
            (m.soc, 64, "Percent"),
        )
        await station.ask(tx.event(event.updated, trigger.meter_value_periodic, meter_value))
        measurands = [s.measurand for s in meter_value.sampled_value]
        emit("meter_values", id=tx.id, measurands=measurands)
    if remote:
        request = await station.operator("RequestStopTransaction", "remote_stop")
        expect(request["transaction_id"] == tx.id, f"asked to stop {request}, running {tx.id}")
        emit("remote_stop", transactionId=request["transaction_id"])
        ended_by, reason = trigger.remote_stop, enums.ReasonEnumType.remote
    else:
        ended_by, reason = trigger.stop_authorized, enums.ReasonEnumType.local
    ended = tx.event(
        event.ended,
        ended_by,
        tx.meter_value(context.transaction_end, meter_stop),
        transaction_info={
            "charging_state": enums.ChargingStateEnumType.idle,
            "stopped_reason": reason,
        },
    )
    await station.ask(ended)
    station.active_transaction = None
    emit("stopped", id=tx.id, meterStartWh=meter_start, meterStopWh=meter_stop, samples=tx.samples)
    if remote:
        # The same Ended again (same seqNo), as after a lost answer: acknowledged all the same.
        await station.ask(ended)
        emit("stop_retried", id=tx.id)


def scenario_2x(station_class):
    async def scenario(args):
        ocpp = station_class.ocpp
        enums, types = ocpp.enums, ocpp.datatypes
        boot = ocpp.call.BootNotification(
            charging_station=types.ChargingStationType(
                vendor_name="python-ocpp", model=f"interop-{args.version}"
            ),
            reason=enums.BootReasonEnumType.power_up,
        )
        token = {"id_token": args.id_tag, "type": "ISO14443"}
        async with Session(station_class, args) as station:
            booted = await station.ask(boot)
            expect(booted.status == "Accepted", f"BootNotification: {booted}")
            emit("booted", connection=1)
            await station.ask(
                ocpp.call.StatusNotification(
                    timestamp=now(),
                    connector_status=enums.ConnectorStatusEnumType.available,
                    evse_id=CONNECTOR,
                    connector_id=CONNECTOR,
                )
            )
            emit("status", status="Available")
            authorized = await station.ask(
                ocpp.call.Authorize(id_token=types.IdTokenType(**token))
            )
            expect(authorized.id_token_info["status"] == "Accepted", f"Authorize: {authorized}")
            emit("authorized", idTag=args.id_tag)

            await transaction_2x(station, token, 1000, 5000, meter_during=2500, remote=True)

            request = await station.operator("RequestStartTransaction", "remote_start")
            emit("remote_start", idTag=request["id_token"]["id_token"])
            remote_start_id = request["remote_start_id"]
            await transaction_2x(
                station, request["id_token"], 5000, 6500, remote_start_id=remote_start_id
            )
        emit("disconnected")

        async with Session(station_class, args) as station:
            booted = await station.ask(boot)
            expect(booted.status == "Accepted", f"BootNotification after reconnecting: {booted}")
            emit("booted", connection=2)
            await station.ask(ocpp.call.Heartbeat())
            emit("heartbeat")
            emit("done")
            await station.guarded(stdin_closed(), "waiting for stdin to close", OPERATOR_TIMEOUT)

    return scenario


# Running -----------------------------------------------------------------------------------------

SUBPROTOCOLS = {"1.6": "ocpp1.6", "2.0.1": "ocpp2.0.1", "2.1": "ocpp2.1"}
SCENARIOS = {
    "1.6": scenario_16,
    "2.0.1": scenario_2x(Station201),
    "2.1": scenario_2x(Station21),
}


async def stdin_closed():
    """Returns when stdin reaches its end: the test's word that it has checked what it wanted."""
    reader = asyncio.StreamReader()
    loop = asyncio.get_running_loop()
    try:
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    except ValueError:
        return  # A regular file: its end is already there.
    await reader.read()


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="the OCPP endpoint, without the station id")
    parser.add_argument("--id", required=True, help="the station identity")
    parser.add_argument("--version", required=True, choices=sorted(SCENARIOS))
    parser.add_argument("--id-tag", required=True, help="a token the central system accepts")
    return parser.parse_args()


async def main():
    args = parse_args()
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    try:
        await SCENARIOS[args.version](args)
    except ScenarioError as e:
        LOG.error("unexpected: %s", e)
        return 1
    except Exception:
        LOG.exception("the scenario failed")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
