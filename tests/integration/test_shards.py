"""K shards give the same tables as one, on DuckDB and PostgreSQL.

A small simulated portfolio is loaded and a champion trained on its own month-end
features; then one day runs unsharded, then in four shards (snapshot, features, scores
and reason codes, treatment plan per shard; worklists as the whole-book reduce). Every
table the day writes must match row for row, each shard must read and write only its
own loans, and a shard's rerun must change nothing.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pandas as pd
import pytest
import shard_chain
import sqlalchemy as sa
from shard_chain import END, assert_same_tables, day_tables, run_day, train_champion, wipe
from simulated_landing import ingest_landing
from warehouse_reads import read

from nplpipeline.delinquency.stage import read_inputs, run_delinquency_snapshot
from nplpipeline.delinquency.tables import delinquency_snapshot
from nplpipeline.settings import get_settings
from nplpipeline.warehouse.engine import transaction
from nplpipeline.warehouse.shards import Shard, all_shards, python_shard_hash, shard_hash
from nplpipeline.warehouse.tables import RAW_TABLES

K = 4


@pytest.fixture(scope="module")
def landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return shard_chain.land(tmp_path_factory.mktemp("shard-landing"))


@pytest.fixture
def ingested(landing: Path, npl_env: dict[str, str], monkeypatch, tmp_path) -> dict[str, str]:
    ingest_landing(landing, npl_env, monkeypatch, tmp_path, END)
    return npl_env


def test_the_hash_is_the_same_in_the_warehouse_and_in_python(ingested) -> None:
    r = RAW_TABLES["loans"].c
    frame = read(sa.select(r.loan_id, shard_hash(r.loan_id).label("h")))
    assert len(frame) == shard_chain.LOANS
    assert frame["h"].astype(int).tolist() == [python_shard_hash(x) for x in frame["loan_id"]]
    sizes = frame["h"].astype(int) % K
    assert sizes.nunique() == K  # every shard has loans at this size


def test_k_shards_give_the_same_tables_as_one(ingested) -> None:
    train_champion()
    run_day(END, shards=1)
    whole = day_tables(END)
    assert len(whole["int_delinquency_snapshot"]) == shard_chain.LOANS
    assert len(whole["int_account_scores"]) > 0 and len(whole["act_worklist"]) > 0
    assert whole["int_account_scores"]["reason_1"].notna().any()

    wipe(END)
    run_day(END, shards=K)
    assert_same_tables(day_tables(END), whole)

    # a shard's rerun rewrites its own rows only: the tables stay the same
    run_delinquency_snapshot(END, shard=Shard(2, K))
    assert_same_tables(day_tables(END), whole)


def test_a_shard_reads_and_writes_only_its_loans(ingested) -> None:
    shard = Shard(1, K)
    frames = read_inputs_of(shard)
    for name, frame in frames.items():
        assert len(frame) > 0, name
        assert frame["loan_id"].map(shard.contains).all(), name
    total = sum(len(read_inputs_of(s)["loans"]) for s in all_shards(K))
    assert total == shard_chain.LOANS

    summary = run_delinquency_snapshot(END, shard=shard)
    written = read(sa.select(delinquency_snapshot.c.loan_id))
    assert summary["loans"] == len(written) == len(frames["loans"])
    assert written["loan_id"].map(shard.contains).all()


def test_shards_in_parallel_processes_write_the_same_snapshot(ingested) -> None:
    """Four processes at once: on DuckDB they take turns on the file, on PostgreSQL they
    write in parallel; either way the day's snapshot is the unsharded one."""
    run_delinquency_snapshot(END)
    whole = day_tables(END)["int_delinquency_snapshot"]
    wipe(END)
    context = multiprocessing.get_context("spawn")  # children inherit the NPL_* environment
    with ProcessPoolExecutor(K, mp_context=context) as pool:
        written = list(pool.map(shard_chain.snapshot_shard, [f"{i}/{K}" for i in range(K)]))
    assert sum(written) == len(whole) == shard_chain.LOANS and min(written) > 0
    got = day_tables(END)["int_delinquency_snapshot"]
    pd.testing.assert_frame_equal(got, whole, check_dtype=False)


def read_inputs_of(shard: Shard) -> dict[str, pd.DataFrame]:
    """The delinquency stage's inputs for one shard, as the stage reads them."""
    with transaction(get_settings().warehouse_url) as conn:
        return read_inputs(conn, END, shard)
