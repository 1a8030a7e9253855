"""The collections dashboard: the Airflow plugin, the page in headless Chromium, the report.

The marts are filled by hand (``dashboard_fixtures``) on DuckDB and PostgreSQL; every
figure the page shows is read back from the browser's DOM (``data-*`` attributes for the
exact value, text for the formatted one) and compared with the tables themselves. The
browser is Debian's ``chromium`` (``make test`` installs it); without it the test fails.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import sqlalchemy as sa
from dashboard_fixtures import (
    AS_OF,
    CUSTOMER_IDS,
    LOAN_IDS,
    MARKUP_AGENCY,
    PREVIOUS,
    create_schema,
    fill_warehouse,
)
from fastapi.testclient import TestClient

import nplpipeline.report.marts.tables as marts
from nplpipeline.act.tables import suppression_log
from nplpipeline.model.tables import model_monitoring
from nplpipeline.report.dashboard import fmt, load, write_monthly_report
from nplpipeline.settings import Settings
from nplpipeline.warehouse.engine import transaction

ROOT = Path(__file__).resolve().parents[2]
PLUGIN_FILE = ROOT / "plugins" / "npl_dashboard.py"
CHROMIUM_TIMEOUT = 60


# --- reading a page back ---------------------------------------------------------------


@dataclass
class Node:
    tag: str
    attrs: dict[str, str]
    children: list[Node | str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text for c in self.children)

    def iter(self) -> Iterator[Node]:
        yield self
        for child in self.children:
            if isinstance(child, Node):
                yield from child.iter()

    def all(self, tag: str | None = None, **data: str) -> list[Node]:
        """Descendants (and self) with ``tag`` and these ``data-*`` values."""
        want = {f"data-{k.rstrip('_').replace('_', '-')}": v for k, v in data.items()}
        return [
            n
            for n in self.iter()
            if (tag is None or n.tag == tag) and all(n.attrs.get(k) == v for k, v in want.items())
        ]

    def one(self, tag: str | None = None, **data: str) -> Node:
        found = self.all(tag, **data)
        assert len(found) == 1, f"{len(found)} <{tag or '*'}> with {data}"
        return found[0]

    def cell(self, name: str) -> Node:
        return self.one("td", field=name)


_VOID = {"meta", "link", "br", "input", "img", "hr", "rect", "line", "polyline", "path"}


class _TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(node)
        if tag not in _VOID:
            self.stack.append(node)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.stack[-1].children.append(Node(tag, {k: v or "" for k, v in attrs}))

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self.stack) - 1, 0, -1):
            if self.stack[i].tag == tag:
                del self.stack[i:]
                return

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


def parse(html: str) -> Node:
    builder = _TreeBuilder()
    builder.feed(html)
    builder.close()
    return builder.root


def value(node: Node) -> float | None:
    raw = node.attrs["data-value"]
    return None if raw == "" else float(raw)


def approx(expected: object) -> Any:
    return None if expected is None else pytest.approx(float(expected), rel=1e-9, abs=1e-9)


# --- the warehouse as the truth ----------------------------------------------------------


def rows(url: str, table: sa.Table, **where: object) -> list[dict[str, Any]]:
    """A table's rows as plain dicts (Decimal -> float), read with SQLAlchemy only."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        query = sa.select(table).where(*(table.c[k] == v for k, v in where.items()))
        with engine.connect() as conn:
            result = [dict(r._mapping) for r in conn.execute(query)]
    finally:
        engine.dispose()
    return [{k: float(v) if isinstance(v, Decimal) else v for k, v in r.items()} for r in result]


def as_date(value: object) -> dt.date:
    return value.date() if isinstance(value, dt.datetime) else value  # type: ignore[return-value]


# --- the plugin, a server, a browser ------------------------------------------------------


def load_plugin() -> ModuleType:
    """plugins/npl_dashboard.py as Airflow imports it: a plain module from the folder."""
    spec = importlib.util.spec_from_file_location("npl_dashboard_under_test", PLUGIN_FILE)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@contextmanager
def serve(app: Any) -> Iterator[str]:
    """Run ``app`` under uvicorn in a background thread on a free port; yield its URL."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            pytest.fail("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def chromium_binary() -> str:
    found = os.environ.get("NPL_CHROMIUM") or shutil.which("chromium")
    if not found and Path("/usr/bin/chromium").exists():
        found = "/usr/bin/chromium"
    if not found:
        pytest.fail("headless Chromium is missing: `make chromium` (Debian package `chromium`)")
    return found


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def chromium_dom(url: str, workdir: Path, screenshot: Path | None = None) -> str:
    """The DOM headless Chromium builds for ``url`` (and a screenshot, when asked)."""
    args = [
        chromium_binary(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--no-default-browser-check",
        "--hide-scrollbars",
        f"--user-data-dir={workdir / 'chromium-profile'}",
        "--window-size=1280,2400",
        *([f"--screenshot={screenshot}"] if screenshot else []),
        "--dump-dom",
        url,
    ]
    # its own process group, so a hung browser is killed with all its helpers
    proc = subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
    )
    try:
        out, err = proc.communicate(timeout=CHROMIUM_TIMEOUT)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        proc.communicate()
        pytest.fail(f"chromium did not finish within {CHROMIUM_TIMEOUT}s on {url}")
    finally:
        _kill_group(proc)  # helpers left behind by a crashed browser
    if proc.returncode != 0 or b"<html" not in out:
        tail = err.decode(errors="replace")[-2000:]
        pytest.fail(f"chromium failed (exit {proc.returncode}) on {url}:\n{tail}")
    return out.decode("utf-8")


# --- checks shared by the page and the report ----------------------------------------------


def check_recovery(page: Node, url: str, day: dt.date) -> None:
    tiers = {r["tier"]: r for r in rows(url, marts.dim_tier)}
    tracked = rows(url, marts.plan_tracking, as_of_date=day)
    assert {r["tier"] for r in tracked} == {
        n.attrs["data-tier"] for n in page.all("tr", kpi="recovery")
    }
    for r in tracked:
        tr = page.one("tr", kpi="recovery", tier=r["tier"])
        actual, target = r["actual_recovery_rate"], r["target_recovery_rate"]
        assert value(tr.cell("actual")) == approx(actual)
        assert tr.cell("actual").text == fmt.pct(actual)
        assert value(tr.cell("target")) == approx(target)
        assert tr.cell("target").text == fmt.pct(target)
        assert value(tr.cell("repaid")) == approx(r["repaid"])
        assert tr.cell("repaid").text == fmt.money(r["repaid"])
        assert tr.cell("accounts").text == fmt.count(r["accounts"])
        gap = None if target is None else actual - target
        assert tr.cell("gap").text == fmt.pp(gap)
        label = tiers.get(r["tier"], {}).get("label_zh")
        if label:  # Chinese tier labels survive the trip through the browser
            assert label in tr.cell("tier").text
        bar = page.one("g", kpi="recovery", key=r["tier"])
        assert value(bar) == approx(actual)
        assert bar.attrs["data-target"] == ("" if target is None else fmt.raw(target))
        [name] = [t for t in bar.all("text") if t.attrs.get("class") == "bar-label"]
        tier_name = r["tier"].replace("_", " ")
        assert name.one("title").text == (f"{tier_name} {label}" if label else tier_name)
        [shown] = [t for t in bar.all("text") if t.attrs.get("class") == "bar-value"]
        assert shown.text == fmt.pct(actual)
    # overall first, then the tiers in dim_tier's order
    order = [n.attrs["data-tier"] for n in page.all("tr", kpi="recovery")]
    assert order == ["overall", "mild", "severe", "extremely_severe"]


def check_agencies(page: Node, url: str, day: dt.date) -> None:
    names = {r["agency_id"]: r["name"] for r in rows(url, marts.dim_agency)}
    table = sorted(rows(url, marts.agency_scorecard, as_of_date=day), key=lambda r: r["rank"])
    shown = page.all("tr", kpi="agency")
    assert [n.attrs["data-agency"] for n in shown] == [r["agency_id"] for r in table]
    for r, tr in zip(table, shown, strict=True):
        assert tr.cell("rank").text == str(r["rank"])
        assert value(tr.cell("liquidation_rate")) == approx(r["liquidation_rate"])
        assert tr.cell("liquidation_rate").text == fmt.pct(r["liquidation_rate"])
        assert tr.cell("collected").text == fmt.money(r["collected"])
        assert tr.cell("net_recovery").text == fmt.money(r["net_recovery"])
        assert tr.cell("complaints").text == fmt.count(r["complaints"])
        assert value(tr.cell("score")) == approx(r["score"])
        name = names.get(r["agency_id"])
        expected = f"{name} ({r['agency_id']})" if name else r["agency_id"]
        assert tr.cell("agency").text == expected  # markup in a name is text, not tags
        bar = page.one("g", kpi="agency_liquidation", key=r["agency_id"])
        assert value(bar) == approx(r["liquidation_rate"])


def check_drift(page: Node, url: str, day: dt.date) -> None:
    checks = rows(url, model_monitoring, as_of_date=day)
    assert len(page.all("tr", kpi="drift")) == len(checks)
    for r in checks:
        tr = page.one("tr", kpi="drift", subject=r["subject"], metric=r["metric"])
        assert tr.cell("status").text == r["status"]
        assert value(tr.cell("value")) == approx(r["value"])
        assert tr.cell("value").text == fmt.number(r["value"])
        assert tr.cell("n").text == fmt.count(r["n"])
        if r["metric"] == "psi":
            assert value(page.one("g", kpi="drift_psi", key=r["subject"])) == approx(r["value"])
    statuses = [n.cell("status").text for n in page.all("tr", kpi="drift")]
    assert statuses == sorted(statuses, key=["alert", "watch", "ok", "n/a"].index)
    alerts = sum(r["status"] == "alert" for r in checks)
    assert page.one(kpi="headline", metric="drift_alerts").attrs["data-value"] == str(alerts)


def check_suppressions(page: Node, url: str, days: list[dt.date]) -> None:
    logged = [r for r in rows(url, suppression_log) if as_date(r["as_of_date"]) in days]
    for by in ("reason", "channel", "tier"):
        counts: dict[str, int] = {}
        for r in logged:
            counts[r[by]] = counts.get(r[by], 0) + 1
        shown = {
            n.attrs["data-key"]: n.cell("count").text
            for n in page.all("tr", kpi="suppressions", by=by)
        }
        assert shown == {k: fmt.count(v) for k, v in counts.items()}
    for reason in {r["reason"] for r in logged}:
        bar = page.one("g", kpi="suppressions_by_reason", key=reason)
        assert value(bar) == sum(r["reason"] == reason for r in logged)
    tile = page.one(kpi="headline", metric="suppressed_contacts")
    assert tile.attrs["data-value"] == str(len(logged))


def check_roll_rates(page: Node, url: str, month_end: dt.date) -> None:
    cells = rows(url, marts.roll_rates, month_end=month_end)
    shown = page.all("td", kpi="roll_rate")
    for r in cells:
        td = page.one("td", kpi="roll_rate", from_=r["from_bucket"], to=r["to_bucket"])
        assert value(td) == approx(r["rate"])
        assert td.text == fmt.pct(r["rate"])
    # cells the mart does not list are shown empty, never invented
    listed = {(r["from_bucket"], r["to_bucket"]) for r in cells}
    for td in shown:
        if (td.attrs["data-from"], td.attrs["data-to"]) not in listed:
            assert td.attrs["data-value"] == "" and td.text == fmt.MISSING
    forward = {(r["from_bucket"], r["to_bucket"]): r["rate"] for r in cells}
    for a, b in (("current", "M1"), ("M1", "M2"), ("M2", "M3"), ("M3", "M4")):
        assert value(page.one("g", kpi="roll_forward", key=f"{a}>{b}")) == approx(forward[(a, b)])
    rows_shown = [n.attrs["data-from"] for n in page.all("tr") if "data-from" in n.attrs]
    assert rows_shown == ["current", "M1", "M2", "M3"]  # policy bucket order


def check_no_pii(html: str) -> None:
    for secret in (*LOAN_IDS, *CUSTOMER_IDS):
        assert secret not in html


# --- the plugin registers -----------------------------------------------------------------


def test_plugin_registers_app_and_nav_entry() -> None:
    from airflow.api_fastapi.core_api.datamodels.plugins import ExternalViewResponse
    from airflow.plugins_manager import AirflowPlugin

    module = load_plugin()
    plugin = module.NplDashboardPlugin
    assert issubclass(plugin, AirflowPlugin) and plugin.name == "npl_dashboard"
    [app] = plugin.fastapi_apps
    assert app["url_prefix"] == "/npl-dashboard" and app["name"]
    [view] = plugin.external_views
    assert view["href"] == "npl-dashboard/"  # relative: works under any base URL
    assert view["url_route"] == "collections" and view["destination"] == "nav"
    assert view["nav_top_level"] is True and view["name"] == "Collections"
    ExternalViewResponse.model_validate(view)  # what the UI's plugin endpoint serves

    # plugin apps are not protected by Airflow unless they ask: this one asks
    client = TestClient(app["app"])
    assert client.get("/").status_code == 401
    assert client.get("/api/summary").status_code == 401


@pytest.mark.airflow
def test_airflow_loads_plugin_and_serves_it_to_logged_in_users(
    airflow_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow import plugins_manager
    from airflow.api_fastapi.app import create_app, get_auth_manager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    url = f"duckdb:///{tmp_path / 'warehouse.duckdb'}"
    fill_warehouse(url)
    monkeypatch.setenv("NPL_WAREHOUSE_URL", url)

    info = {p["name"]: p for p in plugins_manager.get_plugin_info()}
    assert str(info["npl_dashboard"]["source"]).endswith("npl_dashboard.py")
    prefixes = [a["url_prefix"] for a in plugins_manager.get_fastapi_plugins()[0]]
    assert "/npl-dashboard" in prefixes

    # a fresh auth manager for this app, and none again afterwards (it is process-global)
    monkeypatch.setattr("airflow.api_fastapi.app._AuthManagerState.instance", None)
    with TestClient(create_app("core")) as client:  # Airflow's own API server app
        assert client.get("/npl-dashboard/").status_code == 401
        forged = {"Authorization": "Bearer not-a-jwt"}
        assert client.get("/npl-dashboard/", headers=forged).status_code in (401, 403)
        user = SimpleAuthManagerUser(username="viewer", role="VIEWER")
        token = get_auth_manager().generate_jwt(user)
        page = client.get("/npl-dashboard/", cookies={"_token": token})  # the UI's cookie
        assert page.status_code == 200
        assert parse(page.text).one("body").attrs["data-as-of"] == AS_OF.isoformat()
        api = client.get("/npl-dashboard/api/summary", headers={"Authorization": f"Bearer {token}"})
        assert api.status_code == 200 and api.json()["as_of"] == AS_OF.isoformat()
        listed = client.get("/api/v2/plugins", headers={"Authorization": f"Bearer {token}"})
        [entry] = [p for p in listed.json()["plugins"] if p["name"] == "npl_dashboard"]
        assert entry["external_views"][0]["url_route"] == "collections"


# --- the page in a browser ------------------------------------------------------------------


@pytest.fixture
def filled(warehouse_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    fill_warehouse(warehouse_url)
    monkeypatch.setenv("NPL_WAREHOUSE_URL", warehouse_url)
    return warehouse_url


def test_dashboard_in_headless_chromium_shows_the_tables(filled: str, tmp_path: Path) -> None:
    app = load_plugin().create_app(require_login=False)
    shot = tmp_path / "dashboard.png"
    with serve(app) as base:
        html = chromium_dom(f"{base}/", tmp_path, screenshot=shot)
        page = parse(html)
        assert shot.stat().st_size > 10_000  # the browser really laid the page out

        assert page.one("body").attrs["data-as-of"] == AS_OF.isoformat()
        assert page.all("meta")[0].attrs == {"charset": "utf-8"}  # declared first
        assert not page.all("script")
        check_recovery(page, filled, AS_OF)
        check_agencies(page, filled, AS_OF)
        check_drift(page, filled, AS_OF)
        check_roll_rates(page, filled, AS_OF)
        check_suppressions(page, filled, [AS_OF])
        check_no_pii(html)

        # the NPL trend: every point of the last 13 months, in order, with its tooltip
        trend = rows(filled, marts.npl_trend)
        points = page.all("circle", kpi="npl_ratio")
        assert [p.attrs["data-date"] for p in points] == sorted(
            as_date(r["as_of_date"]).isoformat() for r in trend
        )
        for r in trend:
            day = as_date(r["as_of_date"]).isoformat()
            point = page.one("circle", kpi="npl_ratio", date=day)
            assert value(point) == approx(r["npl_ratio"])
            assert point.text == f"{day}: {fmt.pct(r['npl_ratio'], 2)}"
        latest = max(trend, key=lambda r: as_date(r["as_of_date"]))
        tile = page.one(kpi="headline", metric="npl_ratio")
        assert value(tile) == approx(latest["npl_ratio"])
        assert "5.7%" in tile.text  # 0.057 on the latest date

        # spot checks against hand-computed text, independent of the fmt helpers
        mild = page.one("tr", kpi="recovery", tier="mild")
        assert (mild.cell("actual").text, mild.cell("target").text) == ("73.1%", "70.0%")
        assert mild.cell("gap").text == "+3.1 pp" and "轻度" in mild.cell("tier").text
        assert page.one("tr", kpi="agency", agency="AG2").cell("rank").text == "1"
        assert MARKUP_AGENCY in page.one("tr", kpi="agency", agency="AG2").cell("agency").text
        assert not page.all("i")  # ... shown as text, never parsed as markup

        # an earlier as-of date shows that date's figures
        earlier = parse(chromium_dom(f"{base}/?as_of={PREVIOUS.isoformat()}", tmp_path))
        assert earlier.one("body").attrs["data-as-of"] == PREVIOUS.isoformat()
        check_recovery(earlier, filled, PREVIOUS)
        check_agencies(earlier, filled, PREVIOUS)
        check_drift(earlier, filled, PREVIOUS)
        check_roll_rates(earlier, filled, PREVIOUS)
        check_suppressions(earlier, filled, [PREVIOUS])
        assert all(p.attrs["data-date"] <= PREVIOUS.isoformat() for p in earlier.all("circle"))


def test_summary_api_returns_the_same_figures(filled: str) -> None:
    client = TestClient(load_plugin().create_app(require_login=False))
    data = client.get("/api/summary").json()
    assert data["as_of"] == AS_OF.isoformat() and data["last_date"] == AS_OF.isoformat()
    by_tier = {r["tier"]: r for r in data["recovery"]}
    for r in rows(filled, marts.plan_tracking, as_of_date=AS_OF):
        assert by_tier[r["tier"]]["actual"] == approx(r["actual_recovery_rate"])
        assert by_tier[r["tier"]]["target"] == approx(r["target_recovery_rate"])
    assert [a["agency_id"] for a in data["agencies"]] == ["AG2", "AG1", "AG3"]
    assert data["suppressions"]["contacts"] == 8 and data["suppressions"]["accounts"] == 7
    province = [c for c in data["drift"] if c["subject"] == "province"]
    assert province[0]["value"] is None  # NaN PSI travels as null
    assert client.get("/api/summary", params={"as_of": "2020-01-01"}).status_code == 404
    assert client.get("/api/summary", params={"as_of": "soon"}).status_code == 400


def test_empty_warehouse_explains_what_to_run(
    warehouse_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("NPL_WAREHOUSE_URL", warehouse_url)
    client = TestClient(load_plugin().create_app(require_login=False))

    def says_no_data() -> None:
        page = client.get("/")
        assert page.status_code == 200
        assert "No KPI data yet: run npl_kpis" in parse(page.text).text
        assert client.get("/api/summary").status_code == 404

    says_no_data()  # no tables at all (and, on DuckDB, no file: none is created)
    if warehouse_url.startswith("duckdb"):
        assert not (tmp_path / "warehouse.duckdb").exists()
    create_schema(warehouse_url)
    says_no_data()  # tables, no rows
    with pytest.raises(LookupError, match="npl_kpis"):
        write_monthly_report(AS_OF, tmp_path / "report.html", Settings())

    bad = client.get("/", params={"as_of": "31/10/2026"})
    assert bad.status_code == 400 and "YYYY-MM-DD" in bad.text


def test_busy_duckdb_gives_a_503_page_not_a_hang(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"duckdb:///{tmp_path / 'warehouse.duckdb'}"
    fill_warehouse(url)
    monkeypatch.setenv("NPL_WAREHOUSE_URL", url)
    monkeypatch.setattr(load, "_LOCK_RETRY_SECONDS", (0.05,))
    hold = (
        "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
        "print('ok', flush=True); time.sleep(60)"
    )
    holder = subprocess.Popen(  # another process writing the warehouse, as a DAG task does
        [sys.executable, "-c", hold, str(tmp_path / "warehouse.duckdb")], stdout=subprocess.PIPE
    )
    try:
        assert holder.stdout and holder.stdout.readline().strip() == b"ok"
        page = TestClient(load_plugin().create_app(require_login=False)).get("/")
        assert page.status_code == 503 and "busy or unreachable" in page.text
    finally:
        holder.kill()
        holder.wait()


# --- the monthly report file ----------------------------------------------------------------


def test_monthly_report_is_a_self_contained_file(filled: str, tmp_path: Path) -> None:
    path = write_monthly_report(AS_OF, tmp_path / "reports" / "2026-10.html", Settings())
    html = path.read_text(encoding="utf-8")
    page = parse(html)

    assert html.startswith("<!DOCTYPE html>")
    assert page.all("meta")[0].attrs == {"charset": "utf-8"}  # declared first
    # offline: no scripts, stylesheets, images or frames from anywhere
    for tag in ("script", "link", "img", "iframe", "object", "embed"):
        assert not page.all(tag)
    for node in page.iter():
        for attr in ("src", "href"):
            assert not node.attrs.get(attr, "").startswith(("http:", "https:", "//"))
    assert len(page.all("svg")) >= 6
    assert "October 2026" in page.one("h1").text
    check_no_pii(html)

    check_recovery(page, filled, AS_OF)
    check_agencies(page, filled, AS_OF)
    check_drift(page, filled, AS_OF)
    check_roll_rates(page, filled, AS_OF)
    # the month's view: suppressions over October to date, NPL trend at month ends
    october = sorted({as_date(r["as_of_date"]) for r in rows(filled, suppression_log)} - {PREVIOUS})
    check_suppressions(page, filled, october)
    dates = [p.attrs["data-date"] for p in page.all("circle", kpi="npl_ratio")]
    assert len(dates) == 13 and dates[-1] == AS_OF.isoformat()
    assert "2026-10-10" not in dates and "2026-10-20" not in dates


def test_a_query_failing_mid_read_gives_the_503_page_not_a_500(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"duckdb:///{tmp_path / 'warehouse.duckdb'}"
    fill_warehouse(url)
    # the schema changed under the page (a migration half done): queries now fail
    with transaction(url) as conn:
        conn.execute(sa.text("ALTER TABLE mart_npl_trend DROP COLUMN npl_ratio"))
    monkeypatch.setenv("NPL_WAREHOUSE_URL", url)
    client = TestClient(
        load_plugin().create_app(require_login=False), raise_server_exceptions=False
    )
    page = client.get("/")
    assert page.status_code == 503 and "busy or unreachable" in page.text
    assert "npl_ratio" not in page.text and "Traceback" not in page.text
