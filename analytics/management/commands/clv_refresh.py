from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from analytics import value
from analytics.models import OrderFact
from common.money import format_money
from common.progress import ProgressBar


class Command(BaseCommand):
    help = "Fit the lifetime-value models of every currency now and score every buyer (what beat runs nightly)."

    def handle(self, *args: Any, **options: Any) -> None:
        currencies = OrderFact.objects.values_list("currency", flat=True).distinct().count()
        bar = ProgressBar(self.stdout, currencies, "currencies fitted")
        fits = value.clv_refresh(progress=bar.advance)
        bar.finish()
        for fit in fits:
            if fit.usable:
                self.stdout.write(
                    f"{fit.currency}: {fit.customers} buyers ({fit.repeat_customers} repeat) fitted in "
                    f"{fit.fit_seconds:.2f} s; mean spend a purchase "
                    f"{format_money(round(fit.mean_spend_minor or 0), fit.currency)}; holdout {fit.holdout}."
                )
            else:
                self.stdout.write(f"{fit.currency}: not used — {fit.reason}")
        if not fits:
            self.stdout.write("No paid orders yet: nothing to fit.")
