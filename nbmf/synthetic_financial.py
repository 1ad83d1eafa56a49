"""Financial records from a seeded generator: the built-in corpus's ``financial`` domain.

No machine ships financial JSON, so the built-in corpus makes it: accounts, each a document with a run
of records of the kinds a memory service keeps for an agent that handles money (card transactions,
invoices with line items, trade executions, portfolio snapshots, earnings notes, budget notes). The
same seed gives the same records, byte for byte, on every machine and Python version (only
``random.Random`` with explicit draws and fixed tables), so benchmarks on it are reproducible. It is a
stand-in for tuning and benchmarking here, not a substitute for real records.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

VERSION = 1  # bump when the output changes (the materialized corpus is keyed by it)

MERCHANTS = [
    ("Whole Foods Market", "5411", "Groceries"), ("Trader Joe's", "5411", "Groceries"), ("Shell", "5541", "Fuel"),
    ("Chevron", "5542", "Fuel"), ("Amazon Marketplace", "5942", "Shopping"), ("Target", "5310", "Shopping"),
    ("Uber", "4121", "Transport"), ("Delta Air Lines", "3058", "Travel"), ("Marriott", "3509", "Travel"),
    ("Starbucks", "5814", "Dining"), ("Chipotle", "5814", "Dining"), ("Netflix", "4899", "Subscriptions"),
    ("Spotify", "5735", "Subscriptions"), ("CVS Pharmacy", "5912", "Health"), ("Comcast", "4900", "Utilities"),
    ("PG&E", "4900", "Utilities"), ("Home Depot", "5200", "Home"), ("Apple", "5732", "Electronics"),
]  # fmt: skip
CITIES = [("New York", "NY"), ("San Francisco", "CA"), ("Chicago", "IL"), ("Austin", "TX"), ("Seattle", "WA"),
          ("Boston", "MA"), ("Denver", "CO"), ("Miami", "FL"), ("Atlanta", "GA"), ("Portland", "OR")]  # fmt: skip
TICKERS = [("AAPL", "Apple Inc.", 190.0), ("MSFT", "Microsoft Corp.", 410.0), ("NVDA", "NVIDIA Corp.", 120.0),
           ("JPM", "JPMorgan Chase & Co.", 200.0), ("XOM", "Exxon Mobil Corp.", 110.0), ("JNJ", "Johnson & Johnson", 155.0),
           ("V", "Visa Inc.", 275.0), ("PG", "Procter & Gamble Co.", 165.0), ("KO", "Coca-Cola Co.", 62.0),
           ("BRK.B", "Berkshire Hathaway Inc.", 420.0), ("VTI", "Vanguard Total Stock Market ETF", 265.0),
           ("BND", "Vanguard Total Bond Market ETF", 72.0)]  # fmt: skip
CURRENCIES = ["USD", "USD", "USD", "EUR", "GBP"]
VENDORS = ["Acme Supplies LLC", "Northwind Traders", "Globex Consulting", "Initech Software", "Umbrella Logistics",
           "Stark Industrial", "Wayne Facilities Mgmt", "Hooli Cloud Services"]  # fmt: skip
ITEMS = [("Consulting hours", "hr", 150.0), ("Cloud compute (vCPU-hours)", "vCPU-h", 0.048), ("Office chairs", "ea", 289.0),
         ("Software license (annual)", "seat", 480.0), ("Freight LTL", "shipment", 612.0), ("Printer toner", "ea", 74.5),
         ("Support retainer", "month", 2500.0), ("Data storage", "TB-month", 23.0)]  # fmt: skip
VENUES = ["XNAS", "XNYS", "ARCX", "BATS", "IEXG"]
NOTE_TEMPLATES = [
    "User wants to keep {cat} spending under ${limit:,} per month; flag anything above ${flag:,}.",
    "Reminder: {vendor} invoice {inv} is due on {date}; pay from the operating account ending {last4}.",
    "User asked to rebalance toward {pct}% bonds before {date}; current allocation drifted after the {ticker} rally.",
    "Recurring charge from {merchant} (${amount}) looks like a duplicate; user will dispute it with the card issuer.",
    "Tax note: realized gains of ${gain:,.2f} in {year} from {ticker}; user prefers harvesting losses in December.",
    "User's emergency fund target is {months} months of expenses (about ${target:,}); currently at ${have:,}.",
]


def _money(rng: random.Random, median: float, spread: float = 0.8) -> float:
    return round(median * rng.lognormvariate(0.0, spread), 2)


def _iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


class _Account:
    def __init__(self, rng: random.Random, k: int):
        self.rng = rng
        self.id = f"ACC-{rng.randrange(10**7, 10**8)}"
        self.last4 = f"{rng.randrange(10000):04d}"
        self.city = rng.choice(CITIES)
        self.currency = rng.choice(CURRENCIES)
        self.balance = _money(rng, 4000.0, 1.0)
        self.t = datetime(2024, 1, 1, tzinfo=UTC) + timedelta(days=rng.randrange(0, 400), seconds=rng.randrange(86400))
        self.positions = {sym: rng.randrange(1, 300) for sym, _, _ in rng.sample(TICKERS, rng.randrange(2, 7))}
        self.k = k
        self.seq = 0

    def tick(self, hours: float) -> datetime:
        self.t += timedelta(seconds=int(self.rng.expovariate(1.0 / (hours * 3600))) + 1)
        return self.t

    def next_id(self, prefix: str) -> str:
        self.seq += 1
        return f"{prefix}_{self.k:04d}{self.seq:05d}{self.rng.randrange(16**6):06x}"


def _transaction(a: _Account) -> dict[str, Any]:
    rng = a.rng
    name, mcc, cat = rng.choice(MERCHANTS)
    amount = _money(rng, 38.0, 0.9)
    refund = rng.random() < 0.04
    a.balance = round(a.balance + (amount if refund else -amount), 2)
    rec: dict[str, Any] = {
        "type": "card_transaction",
        "id": a.next_id("txn"),
        "account": a.id,
        "posted_at": _iso(a.tick(20)),
        "amount": {"value": f"{amount if refund else -amount:.2f}", "currency": a.currency},
        "merchant": {"name": name, "mcc": mcc, "city": a.city[0], "region": a.city[1]},
        "category": cat,
        "card_last4": a.last4,
        "status": rng.choice(["posted", "posted", "posted", "pending"]),
        "balance_after": f"{a.balance:.2f}",
    }
    if rng.random() < 0.3:
        rec["memo"] = rng.choice(["split with roommate", "business expense", "reimbursable", "gift", "recurring"])
    return rec


def _invoice(a: _Account) -> dict[str, Any]:
    rng = a.rng
    issued = a.tick(72)
    lines = []
    total = 0.0
    for _ in range(rng.randrange(1, 6)):
        desc, unit, price = rng.choice(ITEMS)
        qty = rng.randrange(1, 40) if unit != "vCPU-h" else rng.randrange(1000, 90000)
        unit_price = round(price * rng.uniform(0.9, 1.1), 4 if price < 1 else 2)
        amount = round(qty * unit_price, 2)
        total += amount
        lines.append({"description": desc, "quantity": qty, "unit": unit, "unit_price": unit_price, "amount": round(amount, 2)})
    tax = round(total * rng.choice([0.0, 0.0625, 0.0725, 0.08875]), 2)
    return {
        "type": "invoice",
        "invoice_number": f"INV-{issued.year}-{rng.randrange(100000):05d}",
        "vendor": rng.choice(VENDORS),
        "bill_to": a.id,
        "issued": issued.date().isoformat(),
        "due": (issued + timedelta(days=rng.choice([15, 30, 30, 45, 60]))).date().isoformat(),
        "currency": a.currency,
        "lines": lines,
        "subtotal": round(total, 2),
        "tax": tax,
        "total": round(total + tax, 2),
        "status": rng.choice(["open", "paid", "paid", "overdue"]),
    }


def _trade(a: _Account) -> dict[str, Any]:
    rng = a.rng
    sym, _, base = rng.choice(TICKERS)
    side = rng.choice(["buy", "sell"]) if a.positions.get(sym) else "buy"
    qty = rng.randrange(1, 100)
    if side == "sell":
        qty = min(qty, a.positions[sym])
    a.positions[sym] = a.positions.get(sym, 0) + (qty if side == "buy" else -qty)
    price = round(base * rng.uniform(0.85, 1.2), 2)
    return {
        "type": "trade_execution",
        "order_id": a.next_id("ord"),
        "account": a.id,
        "symbol": sym,
        "side": side,
        "quantity": qty,
        "price": price,
        "notional": round(qty * price, 2),
        "venue": rng.choice(VENUES),
        "executed_at": _iso(a.tick(50)),
        "fees": {"commission": 0.0, "sec_fee": round(qty * price * 0.0000278, 2) if side == "sell" else 0.0},
        "order_type": rng.choice(["market", "limit", "limit"]),
    }


def _snapshot(a: _Account) -> dict[str, Any]:
    rng = a.rng
    positions = []
    value = 0.0
    for sym, qty in sorted(a.positions.items()):
        if qty <= 0:
            continue
        base = next(p for s, _, p in TICKERS if s == sym)
        price = round(base * rng.uniform(0.85, 1.2), 2)
        cost = round(base * rng.uniform(0.6, 1.1), 2)
        value += qty * price
        positions.append({"symbol": sym, "quantity": qty, "price": price, "market_value": round(qty * price, 2),
                          "cost_basis": round(qty * cost, 2), "unrealized_pl": round(qty * (price - cost), 2)})  # fmt: skip
    cash = _money(rng, 3000.0, 1.0)
    return {
        "type": "portfolio_snapshot",
        "account": a.id,
        "as_of": a.tick(24 * 7).date().isoformat(),
        "cash": cash,
        "positions": positions,
        "total_value": round(value + cash, 2),
    }


def _earnings(a: _Account) -> dict[str, Any]:
    rng = a.rng
    sym, name, _ = rng.choice(TICKERS)
    q = rng.randrange(1, 5)
    year = a.t.year
    rev = round(rng.uniform(5, 120), 2)
    growth = round(rng.uniform(-8, 25), 1)
    eps = round(rng.uniform(0.4, 6.5), 2)
    est = round(eps * rng.uniform(0.9, 1.1), 2)
    beat = "beat" if eps >= est else "missed"
    text = (
        f"{name} reported Q{q} {year} revenue of ${rev}B ({growth:+.1f}% year over year) and diluted EPS of ${eps}, "
        f"which {beat} the consensus estimate of ${est}. "
        + rng.choice([
            "Management raised full-year guidance, citing strong demand.",
            "Guidance was maintained; margins narrowed on higher input costs.",
            "The company announced a new share buyback program.",
            "Operating cash flow improved, and the dividend was unchanged.",
        ])
    )  # fmt: skip
    return {"type": "earnings_note", "symbol": sym, "period": f"Q{q} {year}", "revenue_bn": rev, "yoy_growth_pct": growth,
            "eps": eps, "eps_consensus": est, "summary": text, "saved_at": _iso(a.tick(24 * 10))}  # fmt: skip


def _note(a: _Account) -> dict[str, Any]:
    rng = a.rng
    sym = rng.choice(TICKERS)[0]
    text = rng.choice(NOTE_TEMPLATES).format(
        cat=rng.choice(MERCHANTS)[2].lower(), limit=rng.randrange(2, 20) * 50, flag=rng.randrange(1, 10) * 25,
        vendor=rng.choice(VENDORS), inv=f"INV-{a.t.year}-{rng.randrange(100000):05d}",
        date=(a.t + timedelta(days=rng.randrange(3, 60))).date().isoformat(),
        last4=a.last4, pct=rng.randrange(10, 60), ticker=sym, merchant=rng.choice(MERCHANTS)[0], amount=f"{_money(rng, 15.0, 0.6):.2f}",
        gain=_money(rng, 2500.0, 1.0), year=a.t.year, months=rng.randrange(3, 13), target=rng.randrange(10, 60) * 1000,
        have=rng.randrange(1, 40) * 1000,
    )  # fmt: skip
    return {
        "type": "memory_note",
        "account": a.id,
        "created_at": _iso(a.tick(24 * 3)),
        "tags": ["finance", rng.choice(["budget", "tax", "bills", "investing"])],
        "text": text,
    }


KINDS = [(_transaction, 0.45), (_invoice, 0.12), (_trade, 0.15), (_snapshot, 0.06), (_earnings, 0.1), (_note, 0.12)]


def accounts(n_accounts: int = 400, records_per_account: int = 30, seed: int = 20241) -> Iterator[tuple[str, list[str]]]:
    """``(document name, [compact JSON record, ...])`` per account; deterministic in ``seed``."""
    rng = random.Random(seed)
    makers = [m for m, _ in KINDS]
    weights = [w for _, w in KINDS]
    for k in range(n_accounts):
        a = _Account(rng, k)
        n = max(1, int(records_per_account * rng.uniform(0.5, 1.5)))
        recs = [json.dumps(rng.choices(makers, weights)[0](a), ensure_ascii=False, separators=(",", ":")) for _ in range(n)]
        yield f"account-{k:04d}", recs
