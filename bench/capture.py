"""Opt-in and event-beacon throughput under gunicorn, as ratios to a bare Django view measured in the same run.

    python -m bench.capture            # 5 rounds of 6 s per endpoint (BENCH_SECONDS, BENCH_ROUNDS)

Targets: beacons >= 0.85x the floor, opt-ins >= 0.5x, p99 <= 50 ms, and every 2xx answer has its row.

Each round measures the floor and then each endpoint, one after the other, and the reported ratio is the median of the
rounds' own ratios: this machine's speed drifts by a factor of two within a minute, and a ratio of figures taken
seconds apart is steadier than one of medians taken a minute apart.
"""

from __future__ import annotations

import os
import statistics
import uuid

from bench import harness

SECONDS = float(os.environ.get("BENCH_SECONDS", "6"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
CLIENTS = int(os.environ.get("BENCH_CLIENTS", "8"))
WORKERS = int(os.environ.get("BENCH_WORKERS", "4"))
RUN = uuid.uuid4().hex[:10]
PHASE = {"name": "warm"}  # client processes are forked, so each phase's keys carry its own prefix
ORIGIN = "https://bench.example.com"

SETUP = """
from funnels.models import Funnel, Route, Step
from funnels.services import funnel_publish
from offers.models import Offer, Product
funnel, created = Funnel.objects.get_or_create(slug="bench", defaults={"name": "Bench", "currency": "USD",
    "default_country": "US", "allowed_origins": "__ORIGIN__"})
if created:
    product = Product.objects.create(name="Bench e-book", slug="bench-ebook")
    magnet = Offer.objects.create(product=product, name="Bench e-book", slug="bench-ebook", role="lead_magnet",
        amount_minor=0, asset_url="https://example.com/bench.pdf")
    optin = Step.objects.create(funnel=funnel, name="Opt-in", slug="optin", kind="optin", offer=magnet,
        consent_ads_text="Show me ads.", consent_email_text="E-mail me.")
    thanks = Step.objects.create(funnel=funnel, name="Thanks", slug="thanks", kind="thank_you", position=1)
    Route.objects.create(funnel=funnel, from_step=optin, outcome="accept", to_step=thanks)
    funnel.entry_step = optin
    funnel.save()
    funnel_publish(funnel=funnel)
print(Funnel.objects.get(slug="bench").public_key, Funnel.objects.get(slug="bench").pk)
""".replace("__ORIGIN__", ORIGIN)

COUNT = """
from leads.models import Event
print(Event.objects.filter(type="%s", idempotency_key__startswith="%s").count())
"""

HEADERS = {"Content-Type": "application/json", "Origin": ORIGIN}


def main() -> None:
    harness.ensure_database()
    key, funnel_id = harness.manage("shell", "-c", SETUP).split()[-2:]

    def healthz(worker: int, n: int) -> tuple[str, str, bytes | None, dict[str, str]]:
        return "GET", "/healthz", None, {}

    def beacon(worker: int, n: int) -> tuple[str, str, bytes | None, dict[str, str]]:
        # Written out rather than built with json.dumps and uuid: those cost the load generator, which shares the
        # cores with the server, more than the server's own parsing of the body.
        body = (
            f'{{"key": "{key}", "events": [{{"id": "bench-{RUN}-{PHASE["name"]}-b{worker}-{n}", "type": "page_view", '
            f'"visitor_id": "{worker:08x}-0000-4000-8000-{n:012x}", "step": "optin", '
            '"url": "https://bench.example.com/?utm_source=bench"}]}'
        )
        return "POST", "/api/v1/events", body.encode(), HEADERS

    def optin(worker: int, n: int) -> tuple[str, str, bytes | None, dict[str, str]]:
        tag = f"{RUN}-{PHASE['name']}"  # written out, as the beacons' bodies are
        body = (
            f'{{"key": "{key}", "id": "bench-{tag}-o{worker}-{n}", "email": "bench.{tag}.{worker}.{n}@example.com", '
            '"first_name": "Bench", "consents": ["ad_audiences"], "url": "https://bench.example.com/?utm_source=x"}'
        )
        return "POST", "/api/v1/optins", body.encode(), HEADERS

    rounds: dict[str, list[harness.LoadResult]] = {"healthz": [], "beacon": [], "optin": []}
    with harness.gunicorn(workers=WORKERS) as port, harness.inbox_flusher():
        for make in (healthz, beacon, optin):  # warm every worker's imports and connections
            harness.load(port, make, clients=CLIENTS, seconds=1.5)
        for round_no in range(ROUNDS):
            PHASE["name"] = f"run{round_no}"  # fresh ids every round: a repeated id is a (cheap) duplicate
            for name, make in (("healthz", healthz), ("beacon", beacon), ("optin", optin)):
                result = harness.load(port, make, clients=CLIENTS, seconds=SECONDS)
                rounds[name].append(result)
                if name != "healthz":  # the next phase starts once the flusher has caught up
                    drained = harness.wait_for_empty_inbox()
                    print(f"round {round_no + 1}/{ROUNDS} inbox drained {drained:.1f} s after the load", flush=True)
                print(
                    f"round {round_no + 1}/{ROUNDS} {name:<8} {result.rps:8.0f} req/s  p50 {result.p50_ms:5.1f} ms  "
                    f"p99 {result.p99_ms:5.1f} ms  statuses {result.statuses}",
                    flush=True,
                )
    harness.manage("capture_inbox_flush")  # whatever the flusher had not reached when the load stopped
    stored = {
        name: sum(
            int(
                harness.manage("shell", "-c", COUNT % (kind, f"{prefix}:{funnel_id}:bench-{RUN}-run{r}-{tag}")).split()[
                    -1
                ]
            )
            for r in range(ROUNDS)
        )
        for name, kind, prefix, tag in (("beacon", "page_view", "api", "b"), ("optin", "optin", "optin", "o"))
    }
    floor = statistics.median(r.rps for r in rounds["healthz"])
    results = []
    for name, target in (("beacon", 0.85), ("optin", 0.5)):
        runs = rounds[name]
        rps = statistics.median(r.rps for r in runs)
        ratio = statistics.median(r.rps / floor_run.rps for r, floor_run in zip(runs, rounds["healthz"], strict=True))
        p99 = statistics.median(r.p99_ms for r in runs)
        answered_2xx = sum(len(r.payloads_ok) for r in runs)
        errors = sum(count for r in runs for status, count in r.statuses.items() if not 200 <= status < 300)
        results.append(
            {
                "name": f"capture_{name}",
                "measured": round(rps, 1),
                "baseline": round(floor, 1),
                "ratio": round(ratio, 3),
                "target": target,
                "p99_ms": round(p99, 1),
                "non_2xx": errors,
                "answered_2xx": answered_2xx,
                "rows_stored": stored[name],
                "passed": ratio >= target and p99 <= 50 and errors == 0 and stored[name] == answered_2xx,
            }
        )
    harness.report(results, "capture")


if __name__ == "__main__":
    main()
