"""``tollgate keys``, ``customers``, ``usage`` and ``rollups`` against a real database, as an operator
runs them."""

from __future__ import annotations

import itertools
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.customers import repository as customers
from gateway.db.models import ApiKey, Customer
from gateway.keys import repository as api_keys
from gateway.keys.material import hash_key
from gateway.metering.ingest import ingest
from gateway.metering.rollup_rebuild import ROLLUPS
from tests.support.usage_data import seed_usage
from tests.support.usage_records import usage_record

Sessions = async_sessionmaker[AsyncSession]
Tollgate = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def tollgate(database_url: str, tmp_path: Path) -> Tollgate:
    """Run ``tollgate <args> --config <a config on the test database>``."""
    config = tmp_path / "tollgate.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "backends": {"sim": {"type": "simulator"}},
                "models": [
                    {"name": name, "deployments": [{"backend": "sim", "model": "sim"}]} for name in ("chat-a", "chat-b")
                ],
                "database_url": database_url,
            }
        )
    )

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "gateway", *args, "--config", str(config)]
        return subprocess.run(command, capture_output=True, text=True, timeout=60)

    return run


async def test_keys_create_prints_the_key_alone_on_the_last_line_and_stores_its_hash(
    tollgate: Tollgate, sessions: Sessions
) -> None:
    created = tollgate(
        "keys", "create", "--customer", "acme", "--name", "ci", "--models", "chat-a,chat-b",
        "--expires", "2099-01-01", "--rpm", "60", "--budget-usd", "12.5", "--budget-period", "day",
    )  # fmt: skip

    assert created.returncode == 0, created.stderr
    secret = created.stdout.splitlines()[-1]
    assert secret.startswith("tg-") and secret == secret.strip() and " " not in secret
    async with sessions() as session:
        key = (await session.execute(select(ApiKey))).scalar_one()
        customer = (await session.execute(select(Customer))).scalar_one()
    assert key.key_hash == hash_key(secret)
    assert secret not in {str(value) for value in vars(key).values()}
    assert customer.name == "acme"  # created on the way
    assert (key.name, key.allowed_models, key.rpm) == ("ci", ["chat-a", "chat-b"], 60)
    assert (key.budget_micros, key.budget_period) == (12_500_000, "day")
    assert key.expires_at is not None and key.expires_at.year == 2099


async def test_keys_list_shows_keys_but_never_their_secrets_and_revoke_marks_them(tollgate: Tollgate) -> None:
    secrets = [tollgate("keys", "create", "--customer", c).stdout.splitlines()[-1] for c in ("acme", "beta")]

    revoked = tollgate("keys", "revoke", secrets[0][:10])
    listed = tollgate("keys", "list")
    only_beta = tollgate("keys", "list", "--customer", "beta")

    assert revoked.returncode == 0, revoked.stderr
    lines = listed.stdout.splitlines()
    assert lines[0].split() == ["ID", "PREFIX", "CUSTOMER", "NAME", "MODELS", "LIMITS", "BUDGET", "EXPIRES", "REVOKED"]
    acme_row, beta_row = lines[1], lines[2]
    assert secrets[0][:10] in acme_row and "acme" in acme_row and acme_row.rstrip().endswith("Z")  # revoked at
    assert secrets[1][:10] in beta_row and beta_row.rstrip().endswith("-")
    for secret in secrets:
        assert secret not in listed.stdout and hash_key(secret) not in listed.stdout
    assert [line.split()[2] for line in only_beta.stdout.splitlines()[1:]] == ["beta"]


async def test_customers_create_refuses_a_taken_name(tollgate: Tollgate) -> None:
    first = tollgate("customers", "create", "acme", "--markup-percent", "7.5")
    second = tollgate("customers", "create", "acme")
    listed = tollgate("customers", "list")

    assert first.returncode == 0, first.stderr
    assert second.returncode == 1
    assert "customer named 'acme' already exists" in second.stderr
    assert [line.split()[1:3] for line in listed.stdout.splitlines()[1:]] == [["acme", "7.5"]]


async def test_bad_options_are_refused_with_a_message(tollgate: Tollgate) -> None:
    unknown_model = tollgate("keys", "create", "--customer", "acme", "--models", "chat-z")
    bad_date = tollgate("usage", "--from", "yesterday")
    unknown_key = tollgate("keys", "revoke", "tg-nope")

    assert unknown_model.returncode == 1 and "'chat-z' is not a model this gateway serves" in unknown_model.stderr
    assert bad_date.returncode == 1 and "'yesterday' is not an ISO 8601 date" in bad_date.stderr
    assert unknown_key.returncode == 1 and "No API key starts with 'tg-nope'" in unknown_key.stderr


async def test_keys_list_shows_each_keys_limits_budget_and_expiry(tollgate: Tollgate) -> None:
    tollgate(
        "keys", "create", "--customer", "acme", "--name", "limited", "--rpm", "60", "--tpm", "100000",
        "--max-concurrency", "4", "--budget-usd", "12.5", "--budget-period", "day", "--expires", "2099-01-31",
    )  # fmt: skip
    tollgate("keys", "create", "--customer", "acme", "--name", "open")

    listed = tollgate("keys", "list")

    header, limited, unlimited = listed.stdout.splitlines()
    columns = [header.index(title) for title in ("LIMITS", "BUDGET", "EXPIRES", "REVOKED")]
    cells = [[row[a:b].strip() for a, b in itertools.pairwise(columns)] for row in (limited, unlimited)]
    assert cells == [
        ["60 rpm, 100000 tpm, 4 at once", "$12.50 a day", "2099-01-31 00:00:00Z"],
        ["none", "none", "never"],
    ]


async def test_keys_revoke_takes_the_whole_key_or_a_unique_start_of_it_and_never_prints_a_secret(
    tollgate: Tollgate, sessions: Sessions
) -> None:
    secrets = [tollgate("keys", "create", "--customer", "acme").stdout.splitlines()[-1] for _ in range(4)]
    async with sessions() as session, session.begin():  # two keys whose displayed prefixes share a start
        for key_id, prefix in ((3, "tg-Same111"), (4, "tg-Same222")):
            (await session.get(ApiKey, key_id)).prefix = prefix  # type: ignore[union-attr]

    by_whole_key = tollgate("keys", "revoke", secrets[0])
    by_six = tollgate("keys", "revoke", secrets[1][:6])
    ambiguous = tollgate("keys", "revoke", "tg-Same")
    other_case = tollgate("keys", "revoke", "tg-same1")
    too_short = tollgate("keys", "revoke", "tg-Sa")
    not_a_key = tollgate("keys", "revoke", secrets[2][:-1] + ("A" if secrets[2][-1] != "A" else "B"))
    unique_start = tollgate("keys", "revoke", "tg-Same1")

    assert by_whole_key.returncode == 0, by_whole_key.stderr
    assert by_whole_key.stdout.startswith(f"Revoked key 1 ({secrets[0][:10]}) of customer acme")
    assert by_six.returncode == 0 and by_six.stdout.startswith("Revoked key 2 "), by_six.stderr
    assert ambiguous.returncode == 1 and "More than one key starts with 'tg-Same'" in ambiguous.stderr
    assert other_case.returncode == 1 and "No API key starts with 'tg-same1'" in other_case.stderr
    assert too_short.returncode == 1 and "give at least 6 characters of the key" in too_short.stderr
    assert not_a_key.returncode == 1 and "give the whole key or its first 10 characters" in not_a_key.stderr
    assert unique_start.returncode == 0 and unique_start.stdout.startswith("Revoked key 3 (tg-Same111)")
    printed = "".join(done.stdout + done.stderr for done in (by_whole_key, by_six, not_a_key))
    assert all(secret[10:] not in printed for secret in secrets)  # nothing past the displayed prefix
    async with sessions() as session:
        revoked = await session.scalars(select(ApiKey.id).where(ApiKey.revoked_at.is_not(None)).order_by(ApiKey.id))
        assert list(revoked) == [1, 2, 3]


async def test_usage_prints_cost_in_dollars_per_group(tollgate: Tollgate, sessions: Sessions) -> None:
    await seed_usage(sessions)

    by_model = tollgate("usage", "--group-by", "model")
    by_day = tollgate("usage", "--group-by", "day", "--customer", "acme", "--to", "2025-03-02")

    assert by_model.returncode == 0, by_model.stderr
    header, *lines = by_model.stdout.splitlines()
    assert header.startswith("MODEL") and header.endswith("COST USD")
    assert [(r[0], r[1], r[-1]) for r in (line.split() for line in lines)] == [
        ("model-a", "9", "4.500041"),
        ("model-b", "1", "0.000250"),
        ("TOTAL", "10", "4.500291"),
    ]
    day_rows = [line.split() for line in by_day.stdout.splitlines()[1:]]
    assert [(r[0], r[1], r[-1]) for r in day_rows] == [
        ("2025-03-01T00:00:00Z", "3", "1.500250"),
        ("TOTAL", "3", "1.500250"),
    ]


async def test_keys_create_stores_every_limit_flag(tollgate: Tollgate, sessions: Sessions) -> None:
    created = tollgate(
        "keys", "create", "--customer", "acme", "--rpm", "60", "--tpm", "9000", "--max-concurrency", "4",
        "--budget-usd", "3", "--budget-warning-percent", "50",
    )  # fmt: skip
    refused = tollgate("keys", "create", "--customer", "acme", "--budget-warning-percent", "0")

    assert created.returncode == 0, created.stderr
    async with sessions() as session:
        key = (await session.execute(select(ApiKey))).scalar_one()
    assert (key.rpm, key.tpm, key.max_concurrency) == (60, 9000, 4)
    assert (key.budget_micros, key.budget_period, key.budget_warning_percent) == (3_000_000, "month", 50)
    assert refused.returncode == 1 and "budget_warning_percent" in refused.stderr


async def test_customers_get_limits_and_prepaid_terms_and_update_changes_only_what_is_given(
    tollgate: Tollgate, sessions: Sessions
) -> None:
    created = tollgate(
        "customers", "create", "acme", "--prepaid", "--credit-grace-usd", "2.5", "--rpm", "100",
        "--budget-usd", "50", "--budget-period", "day",
    )  # fmt: skip
    updated = tollgate("customers", "update", "acme", "--rpm", "none", "--tpm", "5000", "--markup-percent", "3")
    unprepaid = tollgate("customers", "update", "acme", "--no-prepaid", "--budget-usd", "none")
    bad = tollgate("customers", "update", "acme", "--credit-grace-usd", "-1")
    missing = tollgate("customers", "update", "nobody", "--rpm", "5")

    assert created.returncode == 0, created.stderr
    assert "budget 50.000000 USD/day" in created.stdout and "prepaid: yes, grace 2.500000 USD" in created.stdout
    assert updated.returncode == 0, updated.stderr
    assert "rpm -, tpm 5000" in updated.stdout and "markup 3 %" in updated.stdout
    assert unprepaid.returncode == 0, unprepaid.stderr
    async with sessions() as session:
        acme = (await session.execute(select(Customer))).scalar_one()
    assert (acme.rpm, acme.tpm, acme.budget_micros, acme.budget_period) == (None, 5000, None, None)
    assert (acme.prepaid, acme.credit_grace_micros, acme.markup_percent) == (False, 2_500_000, 3)
    assert bad.returncode == 1 and "credit_grace_usd must be a non-negative amount" in bad.stderr
    assert missing.returncode == 1 and "No customer is named 'nobody'" in missing.stderr


async def test_credits_add_prints_the_balance_and_a_repeated_reference_adds_nothing(tollgate: Tollgate) -> None:
    tollgate("customers", "create", "acme", "--prepaid", "--credit-grace-usd", "1")
    tollgate("customers", "create", "beta")

    first = tollgate(
        "credits", "add", "--customer", "acme", "--usd", "25", "--note", "invoice 7", "--reference", "inv-7"
    )
    repeated = tollgate("credits", "add", "--customer", "acme", "--usd", "25", "--reference", "inv-7")
    second = tollgate("credits", "add", "--customer", "acme", "--usd", "0.000001")
    refusals = [
        tollgate("credits", "add", "--customer", "acme", "--usd", usd) for usd in ("0", "-5", "0.0000001", "lots")
    ]
    nobody = tollgate("credits", "add", "--customer", "nobody", "--usd", "1")
    overview = tollgate("credits", "show")
    detail = tollgate("credits", "show", "--customer", "acme")

    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == "Balance of acme: 25.000000 USD"
    assert repeated.returncode == 0 and repeated.stdout.strip() == "Balance of acme: 25.000000 USD"
    assert "nothing added" in repeated.stderr
    assert second.stdout.strip() == "Balance of acme: 25.000001 USD"
    assert [r.returncode for r in refusals] == [1, 1, 1, 1]
    assert all("usd" in r.stderr for r in refusals)
    assert nobody.returncode == 1 and "No customer is named 'nobody'" in nobody.stderr
    assert [line.split() for line in overview.stdout.splitlines()] == [
        ["CUSTOMER", "PREPAID", "BALANCE", "USD", "GRACE", "USD"],
        ["acme", "yes", "25.000001", "1.000000"],
        ["beta", "no", "0.000000", "0.000000"],
    ]
    summary, entries = detail.stdout.split("\n\n")
    assert summary.splitlines()[1].split() == ["acme", "yes", "25.000001", "1.000000"]
    rows = [line.split() for line in entries.splitlines()[1:]]  # ID, date, time, KIND, AMOUNT, REFERENCE, NOTE
    assert [(r[3], r[4], " ".join(r[6:])) for r in rows] == [
        ("topup", "0.000001", "-"),
        ("topup", "25.000000", "invoice 7"),
    ]
    assert rows[1][5] == "topup:inv-7" and rows[0][5].startswith("topup:")


async def test_rollups_rebuild_brings_back_usage_the_rollups_miss(tollgate: Tollgate, sessions: Sessions) -> None:
    async with sessions.begin() as session:
        owner = await customers.create(session, "acme")
        key = (await api_keys.create(session, owner, name="acme-1")).info.id
        records = [
            usage_record(f"r{i}", customer_id=owner.id, api_key_id=key, model="chat-a", cost_micros=250_000)
            for i in range(4)
        ]
        await ingest(session, records)
        for model in ROLLUPS:  # as usage stored before the rollups existed
            await session.execute(delete(model))
    assert "chat-a" not in tollgate("usage").stdout

    rebuilt = tollgate("rollups", "rebuild")

    assert rebuilt.returncode == 0, rebuilt.stderr
    assert rebuilt.stdout.strip() == "Rebuilt the rollups from 4 usage events."
    rows = [line.split() for line in tollgate("usage", "--group-by", "model").stdout.splitlines()[1:]]
    assert [(r[0], r[1], r[-1]) for r in rows] == [("chat-a", "4", "1.000000"), ("TOTAL", "4", "1.000000")]
