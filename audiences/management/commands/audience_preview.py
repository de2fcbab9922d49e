from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from audiences.rules import rule_members, rule_problems


class Command(BaseCommand):
    help = "Count (and with --ids list) the leads a rule selects, saving nothing."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--rule", required=True, help="A JSON file holding the rule (see audiences/rules/__init__.py)."
        )
        parser.add_argument("--ids", action="store_true", help="Also print each member's e-mail, one per line.")

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(options["rule"])
        try:
            rule = json.loads(path.read_text(encoding="utf-8"))
        except OSError as error:
            raise CommandError(f"Cannot read {path}: {error.strerror}.") from None
        except json.JSONDecodeError as error:
            raise CommandError(f"{path} is not JSON: {error.msg} at line {error.lineno}.") from None
        problems = rule_problems(rule)
        if problems:
            raise CommandError(f"The rule is not valid: {'; '.join(problems)}")
        members = rule_members(rule)
        self.stdout.write(f"{members.count()} members")
        if options["ids"]:
            for email in members.order_by("email").values_list("email", flat=True).iterator(chunk_size=5000):
                self.stdout.write(email)
