#!/usr/bin/env python3
"""ocds_gen.py N SEED OUT TRUTH: N realistic OCDS compiled releases (NDJSON in OUT): a
buyer and suppliers among the parties, a tender with its period and value, awards with
dates, values and suppliers, contracts signed after their award, amounts in a handful of
currencies.  Defects are injected at known rates, each in its own items, and TRUTH gets
which check each defect fails and how many items have it:

    ocid.format 1%, date.format 2%, tender.value.amount.non_negative 3%,
    tender.value.currency.code 4%, dates.coherent 5%, contracts.value.within_award 6%,
    parties.referenced 7%

The same SEED gives the same releases (the same ocids: a later dataset of one source)."""
import datetime
import json
import random
import sys

RATES = {
    "ocid.format": 0.01, "date.format": 0.02, "tender.value.amount.non_negative": 0.03,
    "tender.value.currency.code": 0.04, "dates.coherent": 0.05,
    "contracts.value.within_award": 0.06, "parties.referenced": 0.07,
}
CURRENCIES = ["EUR", "USD", "GBP", "MXN", "COP", "PYG"]


def iso(d):
    return d.strftime("%Y-%m-%dT%H:%M:%SZ")


def release(i, rnd, defects):
    base = datetime.datetime(2023, 1, 1) + datetime.timedelta(minutes=rnd.randrange(500000))
    cur = rnd.choice(CURRENCIES)
    amount = round(rnd.lognormvariate(10, 1.2), 2)
    buyer = f"GB-GOV-{rnd.randrange(40):03d}"
    suppliers = [f"GB-COH-{rnd.randrange(100000):06d}" for _ in range(rnd.randint(1, 2))]
    parties = [{"id": buyer, "name": f"Buyer {buyer}", "roles": ["buyer"]}] + \
        [{"id": s, "name": f"Supplier {s}", "roles": ["supplier"]} for s in suppliers]
    tender_start = base
    award_date = base + datetime.timedelta(days=rnd.randint(10, 60))
    sign_date = award_date + datetime.timedelta(days=rnd.randint(1, 30))
    award_amount = round(amount * rnd.uniform(0.7, 1.0), 2)
    contract_amount = round(award_amount * rnd.uniform(0.8, 1.0), 2)
    r = {
        "ocid": f"ocds-213czf-{i:08d}",
        "id": f"{i:08d}-compiled",
        "date": iso(sign_date),
        "tag": ["compiled"],
        "initiationType": "tender",
        "parties": parties,
        "buyer": {"id": buyer, "name": f"Buyer {buyer}"},
        "tender": {"id": f"T-{i}", "title": f"Tender {i}", "status": "complete",
                   "value": {"amount": amount, "currency": cur},
                   "tenderPeriod": {"startDate": iso(tender_start),
                                    "endDate": iso(tender_start + datetime.timedelta(days=9))}},
        "awards": [{"id": f"A-{i}", "date": iso(award_date), "status": "active",
                    "value": {"amount": award_amount, "currency": cur},
                    "suppliers": [{"id": s} for s in suppliers]}],
        "contracts": [{"id": f"C-{i}", "awardID": f"A-{i}", "dateSigned": iso(sign_date),
                       "value": {"amount": contract_amount, "currency": cur}}],
    }
    for d in defects:
        if d == "ocid.format":
            r["ocid"] = f"bad-ocid-{i}"
        elif d == "date.format":
            r["date"] = "2023-13-45T99:00:00Z"
        elif d == "tender.value.amount.non_negative":
            r["tender"]["value"]["amount"] = -amount
        elif d == "tender.value.currency.code":
            r["tender"]["value"]["currency"] = "XYZ"
        elif d == "dates.coherent":
            r["awards"][0]["date"] = iso(tender_start - datetime.timedelta(days=5))
            r["contracts"][0]["dateSigned"] = iso(tender_start - datetime.timedelta(days=1))
        elif d == "contracts.value.within_award":
            r["contracts"][0]["value"]["amount"] = round(award_amount * 1.5, 2)
        elif d == "parties.referenced":
            r["parties"] = [p for p in r["parties"] if p["id"] != buyer]
    return r


def main():
    n, seed, out, truth = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
    counts = dict.fromkeys(RATES, 0)
    with open(out, "w") as f:
        for i in range(1, n + 1):
            rnd = random.Random(f"{seed}:{i}")
            defects = [c for c, rate in RATES.items() if rnd.random() < rate]
            for d in defects:
                counts[d] += 1
            f.write(json.dumps(release(i, rnd, defects)) + "\n")
    with open(truth, "w") as f:
        json.dump({"items": n, "rates": RATES, "failed": counts}, f)


if __name__ == "__main__":
    sys.exit(main())
