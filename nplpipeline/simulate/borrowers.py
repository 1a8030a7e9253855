"""Customers: demographics that drive risk (age, income, employment, region) and their PII.

Income is the lever behind the plan's "NPLs concentrate in young and low-income
borrowers": it depends on age, employment and city tier, and later feeds both the
default and the cure models.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from nplpipeline.contract import EMPLOYMENT_TYPES

from . import reference as ref
from .columns import (
    choice_rows,
    dates,
    decimal,
    ids,
    make_table,
    take_strings,
    time_of_day,
    timestamps,
)
from .config import DAY

PROV_NAMES, CITY_NAMES, CITY_PROV, CITY_PREFIX, CITY_TIER, CITY_WEIGHT = ref.flat_cities()
EMP = {e: i for i, e in enumerate(EMPLOYMENT_TYPES)}
_EMP_MEDIAN = np.array([7000.0, 8000.0, 1800.0, 1500.0, 3800.0, 4500.0])  # by EMPLOYMENT_TYPES
_EMP_SIGMA = np.array([0.45, 0.7, 0.4, 0.5, 0.35, 0.55])
_ID_WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2], dtype=np.int64)
_ID_CHECK = np.array(list("10X98765432"))


@dataclass
class Borrowers:
    """Per-chunk customer attributes, indexed by local customer number."""

    n: int
    first_id: int
    birth_day: np.ndarray
    age_end: np.ndarray  # age in years at end_date
    city: np.ndarray
    province: np.ndarray
    urumqi: np.ndarray
    employment: np.ndarray
    income: np.ndarray  # true monthly income (CNY)
    income_missing: np.ndarray
    frailty: np.ndarray  # latent standard-normal risk, shared by the customer's loans
    dnc: np.ndarray
    vulnerable: np.ndarray
    dispute: np.ndarray
    event: np.ndarray  # 0 none, 1 deceased, 2 bankruptcy
    event_day: np.ndarray  # day the flag is raised (only meaningful when event > 0)


def draw_borrowers(rng: np.random.Generator, n: int, first_id: int, end_day: int) -> Borrowers:
    """Draw n customers. Consumer-finance borrowers skew young."""
    band = rng.choice(4, size=n, p=[0.42, 0.33, 0.17, 0.08])
    lo = np.array([20.5, 30.0, 40.0, 50.0])[band]
    hi = np.array([30.0, 40.0, 50.0, 66.0])[band]
    age = lo + (hi - lo) * rng.random(n)
    birth_day = (end_day - age * 365.25).astype(np.int64)

    p = np.tile(np.array([0.62, 0.18, 0.0, 0.07, 0.0, 0.13]), (n, 1))
    young = age < 24
    p[young, EMP["student"]] = 0.55
    old = age >= 57
    p[old, EMP["retired"]] = 1.2
    employment = choice_rows(rng, p)

    city = rng.choice(len(CITY_NAMES), size=n, p=CITY_WEIGHT)
    province = CITY_PROV[city]
    urumqi = (np.asarray(PROV_NAMES)[province] == ref.XINJIANG) & (
        rng.random(n) < ref.URUMQI_SHARE_IN_XINJIANG
    )

    age_factor = 0.68 + 0.47 * np.exp(-(((age - 42.0) / 13.0) ** 2))
    log_inc = np.log(
        _EMP_MEDIAN[employment] * age_factor * ref.TIER_INCOME_FACTOR[CITY_TIER[city]]
    ) + _EMP_SIGMA[employment] * rng.standard_normal(n)
    income = np.round(np.exp(log_inc), -1)
    income_missing = rng.random(n) < np.where(employment == EMP["self_employed"], 0.12, 0.04)

    event = np.zeros(n, dtype=np.int8)
    u = rng.random(n)
    event[u < 0.0012] = 1
    event[(u >= 0.0012) & (u < 0.0035)] = 2
    return Borrowers(
        n=n,
        first_id=first_id,
        birth_day=birth_day,
        age_end=age,
        city=city,
        province=province,
        urumqi=urumqi,
        employment=employment,
        income=income,
        income_missing=income_missing,
        frailty=rng.standard_normal(n),
        dnc=rng.random(n) < 0.015,
        vulnerable=rng.random(n) < np.where(age >= 60, 0.08, 0.015),
        dispute=rng.random(n) < 0.008,
        event=event,
        event_day=np.zeros(n, dtype=np.int64),
    )


def customer_ids(b: Borrowers, local: np.ndarray) -> pa.Array:
    return ids("C", b.first_id + np.asarray(local), 9)


def national_ids(rng: np.random.Generator, area6: np.ndarray, birth_day: np.ndarray) -> pa.Array:
    """18-character PRC resident IDs: area + YYYYMMDD + sequence + ISO 7064 MOD 11-2 check."""
    bd = np.asarray(birth_day, dtype=np.int64).astype("datetime64[D]")
    y = bd.astype("datetime64[Y]").astype(np.int64) + 1970
    m = bd.astype("datetime64[M]").astype(np.int64) % 12 + 1
    d = (bd - bd.astype("datetime64[M]")).astype(np.int64) + 1
    seq = rng.integers(1, 1000, size=len(bd), dtype=np.int64)
    body = ((np.asarray(area6, dtype=np.int64) * 10_000 + y) * 100 + m) * 100 + d  # 14 digits
    body = body * 1000 + seq  # 17 digits, fits int64
    digits = (body[:, None] // (10 ** np.arange(16, -1, -1, dtype=np.int64))) % 10
    check = _ID_CHECK[(digits @ _ID_WEIGHTS) % 11]
    return pc.binary_join_element_wise(pc.cast(pa.array(body), pa.string()), pa.array(check), "")


def national_id_valid(values: np.ndarray) -> np.ndarray:
    """Check-digit validity of 18-character IDs (used by tests and dirty-row checks)."""
    s = np.asarray(values, dtype="U18")
    ok = np.char.str_len(s) == 18
    body = np.char.ljust(s, 18, "0")
    chars = body.view("U1").reshape(len(s), 18)
    num = np.where(np.char.isdigit(chars[:, :17]), chars[:, :17], "0").astype(np.int64)
    expect = _ID_CHECK[(num @ _ID_WEIGHTS) % 11]
    return ok & (expect == chars[:, 17]) & np.char.isdigit(chars[:, :17]).all(axis=1)


def phones(rng: np.random.Generator, n: int) -> pa.Array:
    """E.164 mainland mobile numbers (+861XXXXXXXXXX)."""
    num = rng.choice(ref.MOBILE_PREFIXES, size=n).astype(np.int64) * 100_000_000 + rng.integers(
        0, 100_000_000, size=n, dtype=np.int64
    )
    return pc.binary_join_element_wise("+86", pc.cast(pa.array(num), pa.string()), "")


def full_names(rng: np.random.Generator, n: int) -> pa.Array:
    sur = take_strings(ref.SURNAMES, rng.choice(len(ref.SURNAMES), size=n, p=ref.SURNAME_WEIGHTS))
    g1 = take_strings(ref.GIVEN_CHARS, rng.integers(0, len(ref.GIVEN_CHARS), size=n))
    g2 = take_strings(ref.GIVEN_CHARS, rng.integers(0, len(ref.GIVEN_CHARS), size=n))
    g2 = pc.if_else(pa.array(rng.random(n) < 0.35), pa.scalar(""), g2)
    return pc.binary_join_element_wise(sur, g1, g2, "")


def customers_table(
    rng: np.random.Generator, b: Borrowers, first_loan_ts: np.ndarray, end_day: int
) -> pa.Table:
    """Customer rows: one at onboarding, one more when deceased/bankruptcy is flagged.

    Onboarding is just before the customer's first loan; PII is drawn here so nothing
    upstream ever carries it.
    """
    created = first_loan_ts - rng.integers(300, 3600, size=b.n)
    local = np.arange(b.n)
    area6 = CITY_PREFIX[b.city] * 100 + rng.integers(1, 12, size=b.n)
    base = {
        "customer_id": customer_ids(b, local),
        "full_name": full_names(rng, b.n),
        "national_id": national_ids(rng, area6, b.birth_day),
        "phone": phones(rng, b.n),
        "birth_date": dates(b.birth_day),
        "province": take_strings(PROV_NAMES, b.province),
        "city": take_strings(CITY_NAMES, b.city),
        "timezone": pa.array(np.where(b.urumqi, "Asia/Urumqi", "Asia/Shanghai")),
        "monthly_income": decimal((b.income * 100).astype(np.int64), null=b.income_missing),
        "employment_type": take_strings(EMPLOYMENT_TYPES, b.employment),
        "do_not_contact": pa.array(b.dnc),
        "deceased": pa.array(np.zeros(b.n, dtype=bool)),
        "bankruptcy": pa.array(np.zeros(b.n, dtype=bool)),
        "dispute_open": pa.array(b.dispute),
        "vulnerable": pa.array(b.vulnerable),
        "updated_at": timestamps(created),
    }
    t0 = make_table("customers", base, created // DAY)

    # Flag events happen some time after onboarding; only those known by end_date are written.
    b.event_day = created // DAY + rng.integers(30, 900, size=b.n)
    ev = np.flatnonzero((b.event > 0) & (b.event_day <= end_day))
    if len(ev) == 0:
        return t0
    upd = b.event_day[ev] * DAY + time_of_day(rng, len(ev), 9, 18)
    t1 = t0.take(pa.array(ev)).drop_columns(["_drop"])
    t1 = t1.set_column(
        t1.schema.get_field_index("deceased"), "deceased", pa.array(b.event[ev] == 1)
    )
    t1 = t1.set_column(
        t1.schema.get_field_index("bankruptcy"), "bankruptcy", pa.array(b.event[ev] == 2)
    )
    t1 = t1.set_column(t1.schema.get_field_index("updated_at"), "updated_at", timestamps(upd))
    t1 = t1.append_column("_drop", pa.array((upd // DAY).astype(np.int32)))
    return pa.concat_tables([t0, t1])
