"""The contact history reduced to what the guardrails count, on one clock.

Each ``collection_actions`` row gets: its UTC instant (``guardrail_clock``), the number it
went to (the dialled number when the history records one, else the customer master's
``phone``, else a per-debtor stand-in), and the contract's vocabulary as masks -- call
attempt, connected call, phone conversation -- plus whether an agency made it. The
per-debtor facts (pending promise, open dispute, last conversation) and the per-number
fact (last answered call reached a wrong party) are then plain groupbys.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd

from nplpipeline.act.guardrail_clock import day_starts, to_instants, valid_zones
from nplpipeline.act.guardrails_config import GuardrailPolicy
from nplpipeline.contract import (
    CONVERSATION_OUTCOMES,
    DISPUTE_OUTCOME,
    PAID_OUTCOME,
    PROMISE_OUTCOME,
    UNCONNECTED_OUTCOMES,
    WRONG_PARTY_OUTCOME,
    is_call_attempt,
    is_connected_call,
    is_right_party_call,
)
from nplpipeline.keys import positions

NUMBER_COLUMN = "phone_number"


def normalise_numbers(numbers: pd.Series) -> pd.Series:
    """E.164-ish numbers compared by digits (spaces, dashes and brackets ignored)."""
    text = numbers.astype("string").str.replace(r"[^\d+]", "", regex=True)
    return text.where(text.str.len() > 0)


def number_keys(explicit: pd.Series | None, master: pd.Series, customer: pd.Series) -> pd.Series:
    """The number a contact goes to; with none known, one stand-in per debtor (stricter:
    every unnumbered contact of the debtor is pooled as if to one number)."""
    number = normalise_numbers(master)
    if explicit is not None:
        number = normalise_numbers(explicit).fillna(number)
    return number.fillna("debtor:" + customer.astype("string"))


@dataclass(frozen=True)
class CustomerView:
    """The customer master deduplicated, with each customer's zone and number resolved."""

    frame: pd.DataFrame  # indexed by customer_id

    @classmethod
    def build(cls, customers: pd.DataFrame, p: GuardrailPolicy) -> CustomerView:
        cust = customers.drop_duplicates("customer_id", keep="last").set_index("customer_id")
        tz = (
            cust["timezone"].astype("string")
            if "timezone" in cust.columns
            else pd.Series(pd.NA, index=cust.index, dtype="string")
        ).fillna(p.default_timezone)
        cust = cust.assign(_zone=tz, _zone_ok=valid_zones(tz))
        phone = cust["phone"] if "phone" in cust.columns else pd.Series(None, index=cust.index)
        return cls(cust.assign(_phone=normalise_numbers(phone)))

    def rows(self, customer_ids: pd.Series) -> np.ndarray:
        """Positions in the master (-1: unknown), hashed once per frame of ids: callers
        keep them and read every customer column through ``at``."""
        return positions(customer_ids, self.frame.index)

    def at(self, name: str, row: np.ndarray, index: pd.Index, default: object = None) -> pd.Series:
        """Customer column ``name`` at master positions ``row`` (``default`` where -1)."""
        if name not in self.frame.columns:
            return pd.Series(default, index=index, dtype=object)
        known = row >= 0
        values = self.frame[name].take(np.where(known, row, 0))
        values = pd.Series(values.to_numpy(), index=index, dtype=values.dtype)
        return values if known.all() else values.where(known, default)

    def column(self, name: str, customer_ids: pd.Series, default: object = None) -> pd.Series:
        """One customer column aligned with ``customer_ids`` (``default`` when unknown)."""
        return self.at(name, self.rows(customer_ids), customer_ids.index, default)

    def zone_at(self, row: np.ndarray, index: pd.Index, default_zone: str) -> pd.Series:
        """Each row's customer zone; the policy default for unknown customers or bad zones
        (history rows only -- a candidate with a bad zone is held back before this)."""
        zone = self.at("_zone", row, index, default_zone).astype("string")
        ok = self.at("_zone_ok", row, index, False).astype(bool)
        return zone.where(ok, default_zone)

    def zone(self, customer_ids: pd.Series, default_zone: str) -> pd.Series:
        return self.zone_at(self.rows(customer_ids), customer_ids.index, default_zone)


def with_standing(history: pd.DataFrame, standing: pd.DataFrame | None) -> pd.DataFrame:
    """The look-back window's contacts plus the older ones that still bind
    (``staging.stg_standing_contacts``: open disputes, promises still due, each debtor's
    last answered call), so a state a contact opened is never forgotten with age."""
    if standing is None or standing.empty:
        return history
    if history.empty:
        return standing.reindex(columns=history.columns)
    return pd.concat([history, standing.reindex(columns=history.columns)], ignore_index=True)


def prepare_history(
    history: pd.DataFrame,
    cust: CustomerView,
    run_date: date,
    p: GuardrailPolicy,
    agency_ids: Iterable[str] = (),
) -> pd.DataFrame:
    """History rows known by the end of ``run_date`` (each on its debtor's calendar), with
    instants, number keys and the vocabulary's masks."""
    h = history.reset_index(drop=True)
    row = cust.rows(h["customer_id"])
    zone = cust.zone_at(row, h.index, p.default_timezone)
    instant = to_instants(h["action_at"], zone)
    if instant.isna().any():
        raise ValueError(
            f"collection_actions.action_at: {int(instant.isna().sum())} row(s) unreadable"
        )
    end = _run_day_end(zone, run_date)
    known = (instant < end).to_numpy()
    h = h.assign(instant=instant, zone=zone)[known]
    row = row[known]
    outcome = h["outcome"].astype("string")
    channel = h["channel"].astype("string")
    performer = h["performed_by"] if "performed_by" in h.columns else pd.Series(None, index=h.index)
    agency_own = channel.isin(p.agency_channels).fillna(False).astype(bool)
    answered = ~outcome.isin(UNCONNECTED_OUTCOMES).fillna(False).astype(bool)
    explicit = h[NUMBER_COLUMN] if NUMBER_COLUMN in h.columns else None
    return h.assign(
        outcome=outcome.fillna(""),  # masks below saw the missing ones as answered
        number_key=number_keys(explicit, cust.at("_phone", row, h.index), h["customer_id"]),
        is_call=is_call_attempt(channel).to_numpy() & channel.isin(p.call_channels).to_numpy(),
        connected=is_connected_call(channel, outcome),
        conversation=is_right_party_call(channel, outcome),
        by_agency=agency_own.to_numpy() | performer.isin(list(agency_ids)).to_numpy(),
        agency_own=agency_own,
        agency_answered=agency_own & answered,
    )


def utc_ns(instants: pd.Series) -> np.ndarray:
    """UTC instants as naive datetime64[ns] (comparable in numpy, no Python objects)."""
    return instants.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy("datetime64[ns]")


def instants_at(by_key: pd.Series, keys: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """For each of ``keys``: whether ``by_key`` (instants indexed by key) has it, and its
    instant (NaT where absent), looked up by hashing."""
    at = positions(keys, by_key.index)
    found = at >= 0
    values = utc_ns(by_key) if len(by_key) else np.array([], dtype="datetime64[ns]")
    picked = np.full(len(at), np.datetime64("NaT"), dtype="datetime64[ns]")
    picked[found] = values[at[found]]
    return found, picked


def _run_day_end(zone: pd.Series, run_date: date) -> pd.Series:
    return day_starts(zone, run_date + timedelta(days=1), pd.Series(True, index=zone.index))


def ptp_pending_customers(h: pd.DataFrame, run_date: date) -> pd.Index:
    """Debtors with a promise due today or later and no ``paid`` outcome since on that loan."""
    ptp = h[(h["outcome"] == PROMISE_OUTCOME).to_numpy() & h["ptp_date"].notna().to_numpy()]
    ptp = ptp[pd.to_datetime(ptp["ptp_date"]) >= pd.Timestamp(run_date)]
    if ptp.empty:
        return pd.Index([])
    last_paid = h[(h["outcome"] == PAID_OUTCOME).to_numpy()].groupby("loan_id")["instant"].max()
    found, paid_at = instants_at(last_paid, ptp["loan_id"])
    released = found & (paid_at >= utc_ns(ptp["instant"]))
    return pd.Index(ptp.loc[~released, "customer_id"].unique())


def open_dispute_customers(h: pd.DataFrame, cust: CustomerView, p: GuardrailPolicy) -> pd.Index:
    """Debtors who disputed in a contact and whose master has not since recorded the
    dispute closed (``dispute_open`` false, ``updated_at`` after the last dispute)."""
    disputes = h[(h["outcome"] == DISPUTE_OUTCOME).to_numpy()]
    if disputes.empty:
        return pd.Index([])
    last = disputes.groupby("customer_id")["instant"].max()
    ids = pd.Series(last.index, index=last.index)
    cleared = cust.column("dispute_open", ids).astype("boolean") == False  # noqa: E712
    updated = to_instants(cust.column("updated_at", ids), cust.zone(ids, p.default_timezone))
    resolved = cleared.fillna(False).to_numpy() & (updated > last).fillna(False).to_numpy()
    return pd.Index(last.index[~resolved])


def last_conversation(h: pd.DataFrame, p: GuardrailPolicy) -> pd.Series:
    """Instant of each debtor's latest phone conversation (``paid`` calls included)."""
    conv = h["conversation"].to_numpy()
    if "cooling_off:conversation" in p.agency_contacts_count_for:
        talked = h["outcome"].isin(CONVERSATION_OUTCOMES).fillna(False).to_numpy()
        conv = conv | (h["agency_own"].to_numpy() & talked)
    return h[conv].groupby("customer_id")["instant"].max()


def wrong_party_numbers(h: pd.DataFrame) -> pd.Index:
    """Numbers whose last answered call (any debtor's) reached a wrong party; a tie at
    the last instant counts as wrong party."""
    answered = h[h["connected"].to_numpy()]
    if answered.empty:
        return pd.Index([])
    last = answered.groupby("number_key")["instant"].transform("max")
    final = answered[(answered["instant"] == last).to_numpy()]
    wrong = final[(final["outcome"] == WRONG_PARTY_OUTCOME).to_numpy()]
    return pd.Index(wrong["number_key"].unique())
