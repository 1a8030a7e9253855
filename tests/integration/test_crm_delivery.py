"""CRM delivery: files in the outbox, exactly-once push against a misbehaving local CRM.

The CRM here is a real HTTP server (``crm_server``) in a background thread: it fails a
share of requests with 500/503, closes or resets connections without answering, answers
too late -- some of those after applying the batch -- and counts every item it would
have applied twice.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import fsspec
import httpx
import pandas as pd
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from nplpipeline.act.delivery import ledger as ledger_module
from nplpipeline.act.delivery.client import (
    CrmClient,
    CrmRejectedError,
    CrmUnavailableError,
    retry_after_seconds,
)
from nplpipeline.act.delivery.crm_config import (
    DEFAULT_ENDPOINT,
    CrmEndpoint,
    resolve_crm_endpoint,
)
from nplpipeline.act.delivery.export import verify_bundle
from nplpipeline.act.delivery.payload import FIELD_NAMES, WITHHELD, items, worklist_table
from nplpipeline.act.delivery.stage import DeliveryIncompleteError, run_crm_delivery
from nplpipeline.act.delivery.tables import crm_delivery_ledger, crm_rejections
from nplpipeline.act.tables import worklist
from nplpipeline.devtools import crm_store
from nplpipeline.devtools.crm_server import RunningCrm, start_crm_server
from nplpipeline.schema import ensure_schema
from nplpipeline.settings import get_settings
from nplpipeline.warehouse.engine import transaction
from nplpipeline.warehouse.frames import insert_frame

AS_OF = dt.date(2026, 10, 31)
TOKEN = "test-token-not-a-secret"
BOM = b"\xef\xbb\xbf"
CHANNELS = ("call", "sms", "visit", "app_push")
TIERS = {"mild": "轻度", "severe": "重度", "extremely_severe": "极重度"}
PII = {"full_name", "national_id", "phone", "birth_date", "address"}


def worklist_rows(as_of: dt.date, loans: range) -> pd.DataFrame:
    """Worklist rows with every non-null column filled and Chinese text where people read."""
    rows = []
    for i in loans:
        channel = CHANNELS[i % len(CHANNELS)]
        tier = list(TIERS)[i % 3]
        automated = channel in ("sms", "app_push")
        offer = i % 4 == 0
        rows.append(
            {
                "as_of_date": as_of,
                "item_id": f"{as_of:%Y%m%d}-L{i:05d}-{channel}",
                "loan_id": f"L{i:05d}",
                "customer_id": f"C{i:05d}",
                "tier": tier,
                "tier_label_zh": TIERS[tier],
                "strategy_arm": "challenger" if i % 2 else "champion",
                "channel": channel,
                "queue": f"auto:{channel}" if automated else f"COL{i % 3:03d}",
                "assignee_id": None if automated else f"COL{i % 3:03d}",
                "assignee_team": None if automated else "华东一组",
                "second_assignee_id": f"COL{(i + 1) % 3:03d}" if channel == "visit" else None,
                "queue_rank": i + 1,
                "expected_recovery": round(100 + i * 1.25, 2),
                "effort": 1.0,
                "value_per_effort": 100 + i * 1.25,
                "timezone": "Asia/Shanghai",
                "earliest_local_time": "08:00:00",
                "latest_local_time": "21:00:00",
                "window_start_utc": dt.datetime.combine(as_of, dt.time(0)),
                "window_end_utc": dt.datetime.combine(as_of, dt.time(13)),
                "remaining_call_attempts": 3 if channel == "call" else None,
                "dpd": 30 + i,
                "overdue_amount": round(1000 + i * 10.1, 2),
                "offer_type": "flexible_plan" if offer else None,
                "offer_instalments": 6 if offer else None,
                "offer_instalment_amount": 180.5 if offer else None,
                "offer_first_due_date": as_of + dt.timedelta(days=7) if offer else None,
                "legal_ready": i % 5 == 0,
                "reason_1": "近30天无还款",
                "reason_2": "逾期金额较高",
                "reason_3": None,
                "model_version": "3",
                "nba_treatment": "call" if i % 2 else None,
                "nba_uplift": round(12.5 + i, 2) if i % 2 else None,
                "nba_reason_1": "dpd lowers the gain" if i % 2 else None,
                "nba_reason_2": None,
                "nba_reason_3": None,
            }
        )
    return pd.DataFrame(rows)


def add_worklist(frame: pd.DataFrame) -> None:
    with transaction(get_settings().warehouse_url) as conn:
        ensure_schema(conn)
        insert_frame(conn, worklist, frame)


def ledger_rows() -> pd.DataFrame:
    with transaction(get_settings().warehouse_url) as conn:
        rows = conn.execute(sa.select(crm_delivery_ledger)).mappings().all()
    return pd.DataFrame([dict(r) for r in rows], columns=[c.name for c in crm_delivery_ledger.c])


def rejection_rows() -> pd.DataFrame:
    with transaction(get_settings().warehouse_url) as conn:
        ensure_schema(conn)
        rows = conn.execute(sa.select(crm_rejections)).mappings().all()
    return pd.DataFrame([dict(r) for r in rows], columns=[c.name for c in crm_rejections.c])


def endpoint_for(crm: RunningCrm, **tuning: object) -> CrmEndpoint:
    settings: dict[str, object] = {
        "batch_size": 7,
        "timeout": 2.0,
        "max_attempts": 8,
        "backoff_base": 0.005,
        "backoff_max": 0.02,
    }
    settings.update(tuning)
    return CrmEndpoint(url=crm.url, token=TOKEN, source="test", **settings)  # type: ignore[arg-type]


@pytest.fixture
def crm() -> Iterator[RunningCrm]:
    """A well-behaved CRM (tests start their own when they want a flaky one)."""
    with start_crm_server(token=TOKEN) as running:
        yield running


@pytest.fixture
def no_crm(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("NPL_CRM_URL", "NPL_CRM_TOKEN", "AIRFLOW_CONN_NPL_CRM"):
        monkeypatch.delenv(name, raising=False)


def deliver_until_done(endpoint: CrmEndpoint, max_runs: int = 40) -> tuple[dict, int]:
    """Run the task the way Airflow retries it: again after each incomplete attempt."""
    failures = 0
    for _ in range(max_runs):
        try:
            return run_crm_delivery(AS_OF, endpoint=endpoint), failures
        except DeliveryIncompleteError as exc:
            assert not exc.permanent and exc.remaining >= 1
            failures += 1
    raise AssertionError(f"still incomplete after {max_runs} runs")


def test_exactly_once_against_a_crm_that_fails_and_drops_connections(npl_env: dict) -> None:
    frame = worklist_rows(AS_OF, range(90))
    add_worklist(frame)
    with start_crm_server(fail_rate=0.3, drop_rate=0.1, seed=11, token=TOKEN) as flaky:
        # Two tries per batch and task run: runs end early and later runs resume them.
        endpoint = endpoint_for(flaky, max_attempts=2)
        summary, failed_runs = deliver_until_done(endpoint)
        stats = flaky.stats()
        applied = flaky.state.applied_items(AS_OF.isoformat())

        assert failed_runs >= 1  # retries ran out at least once; reruns finished the job
        assert set(applied) == set(frame["item_id"])
        assert {v["count"] for v in applied.values()} == {1}
        assert stats["duplicate_items"] == 0 and stats["unique_items"] == len(frame)
        # the CRM applied batches whose answer the client never got, then replayed them
        assert stats["faults"]["after_apply"] >= 1 and stats["replayed_batches"] >= 1
        faults = stats["faults"]
        assert faults["http_500"] and faults["http_503"]
        assert faults.get("drop", 0) + faults.get("reset", 0) >= 1  # closed without answer
        assert summary["batches"] == 13 and summary["rows"] == 90

        led = ledger_rows()
        assert len(led) == 90 and led["item_id"].is_unique
        assert led["acknowledged_at"].notna().all() and led["crm_receipt"].notna().all()
        assert (led["attempts"] >= 1).all()
        assert led.groupby("batch_no")["batch_key"].nunique().eq(1).all()

        # rerunning the date sends nothing at all
        again = run_crm_delivery(AS_OF, endpoint=endpoint)
        assert flaky.stats() == stats
        assert again["sent"] == 0 and again["new_batches"] == 0
        assert again["already_acknowledged"] == again["batches"] == 13

        # only allow-listed fields arrived, Chinese text intact
        item = applied[frame["item_id"].iloc[1]]["item"]
        assert list(item) == list(FIELD_NAMES)
        assert item["tier_label_zh"] == frame["tier_label_zh"].iloc[1]
        assert item["reason_1"] == "近30天无还款" and item["overdue_amount"] == "1010.10"


def test_timeouts_are_retried_and_late_answers_do_not_duplicate(npl_env: dict) -> None:
    add_worklist(worklist_rows(AS_OF, range(24)))
    with start_crm_server(slow_rate=0.5, slow_seconds=0.3, seed=5, token=TOKEN) as stalling:
        endpoint = endpoint_for(stalling, timeout=0.1, batch_size=3)
        summary = run_crm_delivery(AS_OF, endpoint=endpoint)
        time.sleep(0.4)  # let stalled requests finish applying on the server side
        stats = stalling.stats()
    assert summary["sent"] == summary["batches"] == 8
    assert stats["faults"]["slow"] >= 1 and stats["duplicate_items"] == 0
    assert stats["unique_items"] == 24 and stats["applied_batches"] == 8


def test_crash_between_crm_ack_and_ledger_write_is_safe(
    npl_env: dict, crm: RunningCrm, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_worklist(worklist_rows(AS_OF, range(20)))
    real = ledger_module.mark_acknowledged
    calls = {"n": 0}

    def crash_on_second(*args: object, **kwargs: object) -> int:
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("worker killed after the CRM acknowledged")
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(ledger_module, "mark_acknowledged", crash_on_second)
    with pytest.raises(RuntimeError, match="worker killed"):
        run_crm_delivery(AS_OF, endpoint=endpoint_for(crm))
    monkeypatch.setattr(ledger_module, "mark_acknowledged", real)

    summary = run_crm_delivery(AS_OF, endpoint=endpoint_for(crm))
    stats = crm.stats()
    assert summary["already_acknowledged"] == 1 and summary["replayed"] == 1
    assert stats["replayed_batches"] == 1 and stats["duplicate_items"] == 0
    assert stats["unique_items"] == 20 and stats["applied_batches"] == summary["batches"] == 3


def test_rerun_sends_nothing_and_late_items_get_their_own_batch(
    npl_env: dict, crm: RunningCrm
) -> None:
    add_worklist(worklist_rows(AS_OF, range(10)))
    first = run_crm_delivery(AS_OF, endpoint=endpoint_for(crm))
    assert first["sent"] == first["batches"] == 2
    before = crm.stats()
    assert run_crm_delivery(AS_OF, endpoint=endpoint_for(crm))["sent"] == 0
    assert crm.stats() == before

    add_worklist(worklist_rows(AS_OF, range(10, 13)))  # the act stage added three contacts
    later = run_crm_delivery(AS_OF, endpoint=endpoint_for(crm))
    assert later["new_batches"] == 1 and later["sent"] == 1 and later["items_sent"] == 3
    assert crm.stats()["duplicate_items"] == 0 and crm.stats()["unique_items"] == 13


def test_files_have_a_bom_chinese_text_and_a_verified_manifest(
    npl_env: dict,
    no_crm: None,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    frame = worklist_rows(AS_OF, range(12))
    add_worklist(frame)
    with caplog.at_level("WARNING"):
        summary = run_crm_delivery(AS_OF)
    assert summary["crm"] == "not configured" and summary["sent"] == summary["batches"] == 0
    printed = capsys.readouterr()  # once Airflow is imported, its log setup may print instead
    assert "no CRM configured" in caplog.text + printed.out + printed.err
    assert summary["files"] == 2 * len(CHANNELS) and summary["rows"] == 12
    assert ledger_rows().empty  # nothing is planned for a CRM that does not exist

    outbox = get_settings().outbox_dir
    manifest = verify_bundle(outbox, f"crm/{AS_OF}")
    assert manifest["as_of"] == AS_OF.isoformat() and manifest["policy"].endswith(".yaml")
    assert sum(manifest["total_rows"].values()) == 12
    folder = Path(outbox) / "crm" / AS_OF.isoformat()
    raw = (folder / "worklist_call.csv").read_bytes()
    assert raw.startswith(BOM)
    csv = pd.read_csv(io.BytesIO(raw), encoding="utf-8-sig", dtype=str)
    assert list(csv.columns) == ["as_of_date", *FIELD_NAMES]
    expected = frame[frame["channel"] == "call"].set_index("item_id")
    got = csv.set_index("item_id")
    assert (got["tier_label_zh"] == expected.loc[got.index, "tier_label_zh"]).all()
    assert set(got["reason_1"]) == {"近30天无还款"}
    parquet = pq.read_table(folder / "worklist_call.parquet").to_pandas()
    assert sorted(parquet["item_id"]) == sorted(expected.index)
    assert not (set(csv.columns) & (PII | set(WITHHELD) - {"as_of_date"}))

    # a rerun writes the very same bytes, and a tampered file fails verification
    assert run_crm_delivery(AS_OF)["files"] == summary["files"]
    assert verify_bundle(outbox, f"crm/{AS_OF}")["files"] == manifest["files"]
    (folder / "worklist_sms.csv").write_bytes(BOM + b"tampered\r\n")
    with pytest.raises(ValueError, match=r"worklist_sms\.csv"):
        verify_bundle(outbox, f"crm/{AS_OF}")


def test_outbox_can_be_an_fsspec_url(
    npl_env: dict, no_crm: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    outbox = f"memory://npl-outbox-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("NPL_OUTBOX_DIR", outbox)
    add_worklist(worklist_rows(AS_OF, range(8)))
    summary = run_crm_delivery(AS_OF)
    assert summary["outbox"] == f"{outbox}/crm/{AS_OF}"
    manifest = verify_bundle(outbox, f"crm/{AS_OF}")
    assert {f["name"] for f in manifest["files"]} >= {"worklist_visit.csv", "worklist_sms.parquet"}
    fs, root = fsspec.core.url_to_fs(f"{outbox}/crm/{AS_OF}")
    assert fs.cat_file(f"{root}/worklist_visit.csv").startswith(BOM)


def test_payload_holds_only_allow_listed_json_safe_fields() -> None:
    row = worklist_rows(AS_OF, range(1)).iloc[0].to_dict()
    row |= {"full_name": "张三", "national_id": "110101199003074518", "phone": "+8613800138000"}
    (item,) = items(worklist_table(AS_OF, [row]))
    text = json.dumps(item, ensure_ascii=False)
    assert list(item) == list(FIELD_NAMES)
    assert not (set(item) & (PII | set(WITHHELD)))
    for secret in ("张三", "110101199003074518", "+8613800138000", "champion"):
        assert secret not in text
    assert item["overdue_amount"] == "1000.00" and item["offer_instalment_amount"] == "180.50"
    assert item["window_end_utc"] == "2026-10-31T13:00:00Z"
    assert item["offer_first_due_date"] == "2026-11-07" and item["legal_ready"] is True
    assert set(FIELD_NAMES) <= {c.name for c in worklist.c}


def test_a_400_fails_fast_without_leaking_values(crm: RunningCrm) -> None:
    row = worklist_rows(AS_OF, range(1)).iloc[0].to_dict()
    (item,) = items(worklist_table(AS_OF, [row]))
    bad = {**item, "full_name": "张三"}  # a field the CRM contract does not allow
    with CrmClient(endpoint_for(crm)) as client, pytest.raises(CrmRejectedError) as caught:
        client.push_batch(AS_OF, "a" * 64, [bad])
    message = str(caught.value)
    assert caught.value.status == 400 and caught.value.code == "unknown_field"
    assert "张三" not in message and item["customer_id"] not in message and TOKEN not in message
    assert caught.value.attempts == 1 and crm.stats()["requests"] == 1


def test_a_refused_token_stops_the_stage_as_permanent_without_splitting(npl_env: dict) -> None:
    add_worklist(worklist_rows(AS_OF, range(6)))
    with start_crm_server(token="another-token") as strict:
        with pytest.raises(DeliveryIncompleteError) as caught:
            run_crm_delivery(AS_OF, endpoint=endpoint_for(strict, batch_size=10))
        assert caught.value.permanent and caught.value.remaining == 1
        assert "unauthorized" in str(caught.value) and "L0000" not in str(caught.value)
        assert strict.stats()["requests"] == 1  # a 401 is about the request: no split
    assert rejection_rows().empty


def test_an_oversized_batch_is_split_and_delivered(npl_env: dict) -> None:
    add_worklist(worklist_rows(AS_OF, range(6)))
    with start_crm_server(token=TOKEN, max_batch_items=3) as strict:
        summary = run_crm_delivery(AS_OF, endpoint=endpoint_for(strict, batch_size=10))
        stats = strict.stats()
    assert summary["split_batches"] == 1 and summary["rejected_items"] == 0
    assert stats["unique_items"] == 6 and stats["duplicate_items"] == 0
    assert ledger_rows()["acknowledged_at"].notna().all() and rejection_rows().empty


def test_client_retries_429_5xx_and_timeouts_with_backoff() -> None:
    answers = iter(
        [
            httpx.Response(429, headers={"Retry-After": "0.01"}),
            httpx.Response(503),
            httpx.ReadTimeout("slow"),
            httpx.Response(
                409, json={"status": "duplicate", "receipt": "crm-1", "batch_key": "b" * 64}
            ),
        ]
    )
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    sleeps: list[float] = []
    endpoint = CrmEndpoint(url="https://crm.test/x", token=TOKEN, backoff_base=0.1, backoff_max=1)
    client = CrmClient(endpoint, sleep=sleeps.append, transport=httpx.MockTransport(handler))
    with client:
        result = client.push_batch(AS_OF, "b" * 64, [{"item_id": "1"}])
    assert result.replayed and result.receipt == "crm-1" and result.attempts == 4
    assert len(sleeps) == 3 and 0.05 <= sleeps[0] <= 0.1 and 0.1 <= sleeps[1] <= 0.2
    assert 0.2 <= sleeps[2] <= 0.4
    assert {r.headers["Idempotency-Key"] for r in seen} == {"b" * 64}
    assert {r.content for r in seen} == {seen[0].content}  # every retry sends the same bytes
    assert seen[0].headers["Authorization"] == f"Bearer {TOKEN}"

    down = CrmClient(
        CrmEndpoint(url="https://crm.test/x", max_attempts=3, backoff_base=0),
        sleep=lambda _s: None,
        transport=httpx.MockTransport(lambda _r: httpx.Response(500)),
    )
    with down, pytest.raises(CrmUnavailableError, match="after 3 attempts"):
        down.push_batch(AS_OF, "c" * 64, [{"item_id": "1"}])


def test_crm_endpoint_resolution_env_then_airflow_connection(
    no_crm: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert resolve_crm_endpoint() is None

    monkeypatch.setenv(
        "AIRFLOW_CONN_NPL_CRM",
        json.dumps(
            {
                "conn_type": "http",
                "host": "crm.example",
                "schema": "https",
                "port": 8443,
                "password": TOKEN,
                "extra": {"endpoint": "/api/v2/batches", "batch_size": 250, "timeout": 10},
            }
        ),
    )
    from_airflow = resolve_crm_endpoint()
    assert from_airflow is not None
    assert from_airflow.url == "https://crm.example:8443/api/v2/batches"
    assert from_airflow.token == TOKEN and from_airflow.batch_size == 250
    assert from_airflow.timeout == 10.0 and from_airflow.source.startswith("Airflow")

    monkeypatch.setenv("NPL_CRM_URL", f"http://:{TOKEN}@127.0.0.1:9")
    monkeypatch.setenv("NPL_CRM_MAX_ATTEMPTS", "3")
    from_env = resolve_crm_endpoint()
    assert from_env is not None
    assert from_env.url == f"http://127.0.0.1:9{DEFAULT_ENDPOINT}" and from_env.token == TOKEN
    assert from_env.max_attempts == 3
    for shown in (repr(from_env), from_env.describe(), repr(from_airflow)):
        assert TOKEN not in shown


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_crm_server_runs_from_the_command_line(tmp_path: Path) -> None:
    port = _free_port()
    state = tmp_path / "crm-state.sqlite"
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "nplpipeline.devtools.crm_server", "--port", str(port)),
            *("--fail-rate", "0.3", "--drop-rate", "0.1", "--seed", "1", "--state", str(state)),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "NPL_CRM_STANDIN_TOKEN": TOKEN},
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
                break
            except httpx.TransportError:
                assert proc.poll() is None and time.monotonic() < deadline
                time.sleep(0.1)
        assert health.json() == {"status": "ok"}
        endpoint = CrmEndpoint(
            url=f"http://127.0.0.1:{port}{DEFAULT_ENDPOINT}",
            token=TOKEN,
            backoff_base=0.005,
            backoff_max=0.02,
            max_attempts=20,
        )
        (item,) = items(worklist_table(AS_OF, [worklist_rows(AS_OF, range(1)).iloc[0]]))
        with CrmClient(endpoint) as client:
            client.push_batch(AS_OF, "d" * 64, [item])
        stats = httpx.get(f"http://127.0.0.1:{port}/stats", timeout=1).json()
        assert stats["unique_items"] == 1 and stats["duplicate_items"] == 0
        assert crm_store.batches(crm_store.connect(state))["d" * 64]["items"] == 1
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _err = proc.communicate(timeout=10)
    assert proc.returncode == 0 and b"listening on" in out


# -- what a contract-following CRM may do: each must end in exactly-once delivery --------


def _ledger_receipts(crm: RunningCrm) -> tuple[set[str], set[str]]:
    """(receipts in the ledger, receipts the CRM issued for the keys it applied)."""
    issued = {str(b["receipt"]) for b in crm.state.batches.values()}
    return set(ledger_rows()["crm_receipt"]), issued


@pytest.mark.parametrize("answer", ["wrong_key", "no_key"])
def test_an_answer_not_naming_the_key_sent_is_not_an_acknowledgement(
    npl_env: dict, answer: str
) -> None:
    add_worklist(worklist_rows(AS_OF, range(7)))
    with start_crm_server(token=TOKEN, script=(answer,)) as crm:
        summary = run_crm_delivery(AS_OF, endpoint=endpoint_for(crm))
        stats = crm.stats()
        in_ledger, issued = _ledger_receipts(crm)
    assert summary["sent"] == 1 and summary["replayed"] == 1  # acked by the replay only
    assert stats["scripted"] == {answer: 1} and stats["replayed_batches"] == 1
    assert in_ledger == issued and stats["duplicate_items"] == 0
    assert set(ledger_rows()["attempts"]) == {2}


def test_409_still_processing_is_retried(npl_env: dict) -> None:
    add_worklist(worklist_rows(AS_OF, range(7)))
    with start_crm_server(token=TOKEN, script=("in_progress", "in_progress")) as crm:
        summary = run_crm_delivery(AS_OF, endpoint=endpoint_for(crm))
        stats = crm.stats()
    assert summary["sent"] == 1 and summary["replayed"] == 0
    assert stats["applied_batches"] == 1 and stats["scripted"] == {"in_progress": 2}
    assert set(ledger_rows()["attempts"]) == {3}


def test_a_broken_response_encoding_is_a_recorded_retryable_failure(
    npl_env: dict, caplog: pytest.LogCaptureFixture
) -> None:
    add_worklist(worklist_rows(AS_OF, range(7)))
    with start_crm_server(token=TOKEN, script=("broken_encoding",)) as crm:
        with caplog.at_level("WARNING"):
            summary = run_crm_delivery(AS_OF, endpoint=endpoint_for(crm))
        stats = crm.stats()
    assert summary["sent"] == 1 and summary["replayed"] == 1
    assert stats["applied_batches"] == 1 and stats["duplicate_items"] == 0
    assert "DecodingError" in caplog.text and set(ledger_rows()["attempts"]) == {2}

    add_worklist(worklist_rows(AS_OF, range(7, 9)))
    with (
        start_crm_server(token=TOKEN, script=("broken_encoding",) * 3) as crm,
        pytest.raises(DeliveryIncompleteError) as caught,
    ):
        run_crm_delivery(AS_OF, endpoint=endpoint_for(crm, max_attempts=2))
    assert not caught.value.permanent and "DecodingError" in str(caught.value)
    late = ledger_rows().set_index("item_id").loc[worklist_rows(AS_OF, range(7, 9))["item_id"]]
    assert set(late["attempts"]) == {2} and late["acknowledged_at"].isna().all()


def test_retry_after_is_honoured_as_seconds_and_as_an_http_date() -> None:
    headers = httpx.Headers(
        {"Retry-After": "Sat, 31 Oct 2026 08:00:30 GMT", "Date": "Sat, 31 Oct 2026 08:00:00 GMT"}
    )
    assert retry_after_seconds(headers) == 30.0
    assert retry_after_seconds(httpx.Headers({"Retry-After": "7"})) == 7.0
    past = httpx.Headers(
        {"Retry-After": "Sat, 31 Oct 2026 07:59:00 GMT", **{"Date": headers["Date"]}}
    )
    assert retry_after_seconds(past) == 0.0
    assert retry_after_seconds(httpx.Headers({"Retry-After": "soon"})) is None

    (item,) = items(worklist_table(AS_OF, [worklist_rows(AS_OF, range(1)).iloc[0]]))
    with start_crm_server(token=TOKEN, script=("unavailable_date",)) as crm:
        sleeps: list[float] = []
        endpoint = CrmEndpoint(url=crm.url, token=TOKEN, backoff_base=0.001, backoff_max=10)
        with CrmClient(endpoint, sleep=sleeps.append) as client:
            result = client.push_batch(AS_OF, "e" * 64, [item])
    assert result.attempts == 2 and result.status == 201
    assert len(sleeps) == 1 and 1.0 <= sleeps[0] <= 3.0  # the date was 2 s after the answer


def test_a_trickled_answer_ends_at_the_request_deadline() -> None:
    (item,) = items(worklist_table(AS_OF, [worklist_rows(AS_OF, range(1)).iloc[0]]))
    with start_crm_server(token=TOKEN, script=("trickle",), trickle_seconds=0.05) as crm:
        endpoint = CrmEndpoint(
            url=crm.url, token=TOKEN, timeout=1.0, deadline=0.3, backoff_base=0.001
        )
        with CrmClient(endpoint, sleep=lambda _s: None) as client:
            result = client.push_batch(AS_OF, "f" * 64, [item])
        stats = crm.stats()
    # each byte came well within the read timeout; only the deadline ended the first try
    assert result.attempts == 2 and result.replayed and result.status == 200
    assert stats["scripted"] == {"trickle": 1} and stats["applied_batches"] == 1


@pytest.mark.parametrize("style", ["integer", "long"])
def test_integer_and_long_receipts_are_acknowledged_and_stored_as_text(
    npl_env: dict, style: str
) -> None:
    add_worklist(worklist_rows(AS_OF, range(10)))
    with start_crm_server(token=TOKEN, receipt_style=style) as crm:
        summary = run_crm_delivery(AS_OF, endpoint=endpoint_for(crm))
        in_ledger, issued = _ledger_receipts(crm)
        stats = crm.stats()
    assert summary["sent"] == summary["batches"] == 2 and stats["requests"] == 2
    assert in_ledger == issued and len(in_ledger) == 2
    sample = next(iter(in_ledger))
    assert sample.isdigit() if style == "integer" else len(sample) > 200


def _refuse_bad_customers(item: dict) -> tuple[str, str | None] | None:
    return ("invalid_value", "customer_id") if item["customer_id"].startswith("BAD") else None


def _set_customer(item_ids: list[str], customer: str | None = None) -> None:
    with transaction(get_settings().warehouse_url) as conn:
        for item_id in item_ids:
            value = customer or "C" + item_id.split("-")[1][1:]
            conn.execute(
                worklist.update().where(worklist.c.item_id == item_id).values(customer_id=value)
            )


def test_refused_items_are_isolated_and_the_rest_of_the_day_is_delivered(
    npl_env: dict, caplog: pytest.LogCaptureFixture
) -> None:
    frame = worklist_rows(AS_OF, range(20))
    bad = [frame["item_id"].iloc[3], frame["item_id"].iloc[11]]
    frame.loc[frame["item_id"].isin(bad), "customer_id"] = "BAD-张三-13800138000"
    add_worklist(frame)
    with start_crm_server(token=TOKEN, reject=_refuse_bad_customers) as crm:
        endpoint = endpoint_for(crm)
        with caplog.at_level("WARNING"):
            first = run_crm_delivery(AS_OF, endpoint=endpoint)
        applied = crm.state.applied_items(AS_OF.isoformat())
        assert first["rejected_items"] == 2 and first["rejected_open"] == 2
        assert set(applied) == set(frame["item_id"]) - set(bad)
        assert crm.stats()["duplicate_items"] == 0
        assert "act_crm_rejections" in caplog.text and "张三" not in caplog.text

        refused = rejection_rows().set_index("item_id")
        assert sorted(refused.index) == sorted(bad)
        assert set(refused["http_status"]) == {422} and set(refused["error_code"]) == {
            "invalid_value"
        }
        assert set(refused["error_field"]) == {"customer_id"}
        assert "BAD" not in refused.to_string() and "张三" not in refused.to_string()
        led = ledger_rows()
        assert len(led) == 18 and led["acknowledged_at"].notna().all()

        # a rerun without a correction sends nothing: the refused payload stays home
        before = crm.stats()["requests"]
        again = run_crm_delivery(AS_OF, endpoint=endpoint)
        assert again["new_batches"] == again["sent"] == 0 and again["rejected_open"] == 2
        assert crm.stats()["requests"] == before

        # corrected worklist rows are planned anew, under a key of their own
        _set_customer(bad)
        fixed = run_crm_delivery(AS_OF, endpoint=endpoint)
        assert fixed["new_batches"] == 1 and fixed["items_sent"] == 2
        assert fixed["rejected_open"] == 0
        applied = crm.state.applied_items(AS_OF.isoformat())
        assert set(applied) == set(frame["item_id"]) and crm.stats()["duplicate_items"] == 0
        assert applied[bad[0]]["item"]["customer_id"] == "C" + bad[0].split("-")[1][1:]
    led = ledger_rows().set_index("item_id")
    assert not set(led.loc[bad, "batch_key"]) & set(refused["batch_key"])


def test_deliver_to_crm_has_an_execution_timeout() -> None:
    from airflow.dag_processing.dagbag import DagBag

    root = Path(__file__).resolve().parents[2]
    bag = DagBag(dag_folder=str(root / "dags" / "npl_collections.py"))
    task = bag.dags["npl_collections"].get_task("deliver_to_crm")
    assert task.execution_timeout is not None
    assert dt.timedelta(minutes=5) <= task.execution_timeout <= dt.timedelta(hours=6)


def test_the_manifest_is_written_whole_or_not_at_all(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nplpipeline.act.delivery import export

    frames = {"worklist_call": worklist_rows(AS_OF, range(4))}
    export.write_bundle(str(tmp_path), "crm/x", frames, {"run": 1})
    folder = tmp_path / "crm" / "x"
    events: list[str] = []
    real_fsync, real_replace = os.fsync, Path.replace

    def crash_on_fsync(fd: int) -> None:
        events.append("fsync")
        raise OSError("disk gone while writing the manifest")

    monkeypatch.setattr(export.os, "fsync", crash_on_fsync)
    with pytest.raises(OSError, match="disk gone"):
        export.write_bundle(str(tmp_path), "crm/x", frames, {"run": 2})
    assert events == ["fsync"]  # the data was forced to disk before any rename
    assert not (folder / "manifest.json").exists()  # no truncated manifest
    assert not list(folder.glob("*.tmp-*"))  # and no temporary file left behind

    renames: list[tuple[str, str]] = []

    def recording_replace(self: Path, target: Path) -> Path:
        renames.append((self.name, Path(target).name))
        return real_replace(self, target)

    monkeypatch.setattr(export.os, "fsync", real_fsync)
    monkeypatch.setattr(Path, "replace", recording_replace)
    manifest = export.write_bundle(str(tmp_path), "crm/x", frames, {"run": 3})
    assert [new for _, new in renames] == ["manifest.json"]
    assert renames[0][0].startswith("manifest.json.tmp-")
    assert json.loads((folder / "manifest.json").read_text(encoding="utf-8")) == manifest
    assert verify_bundle(str(tmp_path), "crm/x")["run"] == 3
