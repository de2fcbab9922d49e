"""How each platform names an account, checked in one place for every model that holds one (connections to send
through, ad accounts to read spend from)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


def customer_id_normalized(value: str) -> str:
    """A Google Ads customer id as digits (``123-456-7890`` → ``1234567890``), or ``""`` if it is not one."""
    digits = (value or "").strip().replace("-", "")
    return digits if len(digits) == 10 and digits.isascii() and digits.isdigit() else ""


def meta_account_normalized(value: str) -> str:
    """A Meta ad account id as ``act_`` and its number (``1234`` or ``act_1234`` → ``act_1234``), or ``""``."""
    number = (value or "").strip().removeprefix("act_")
    return f"act_{number}" if number.isascii() and number.isdigit() else ""


@dataclass(frozen=True, slots=True)
class AccountRule:
    normalized: Callable[[str], str]  # the id as the platform wants it, or "" if it is not one
    problem: str  # what to type instead, for a form


ACCOUNT_RULES: dict[str, AccountRule] = {
    "meta": AccountRule(meta_account_normalized, "Enter the Meta ad account's number, e.g. act_1234567890."),
    "google": AccountRule(customer_id_normalized, "Enter the Google Ads customer id: ten digits, e.g. 123-456-7890."),
}
MANAGER_PROBLEM = "Enter the manager account's customer id: ten digits, or leave it empty."


def account_problems(platform: str, *, account_id: str, login_customer_id: str = "") -> dict[str, str]:
    """What is wrong with an account's ids on ``platform``, by field (``account_id``, ``login_customer_id``); an
    empty account id is left to the caller, which knows whether it needs one. Platforms with no account rule
    (a webhook, the sandbox) take anything."""
    rule = ACCOUNT_RULES.get(platform)
    if rule is None:
        return {}
    problems = {}
    if account_id.strip() and not rule.normalized(account_id):
        problems["account_id"] = rule.problem
    if login_customer_id.strip() and not customer_id_normalized(login_customer_id):
        problems["login_customer_id"] = MANAGER_PROBLEM
    return problems


def account_required(platform: str) -> str:
    """What to type when ``platform`` needs an account id and none was given ("" when it needs none)."""
    rule = ACCOUNT_RULES.get(platform)
    return rule.problem if rule is not None else ""
