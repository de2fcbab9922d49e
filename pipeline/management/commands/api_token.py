from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from pipeline.models import ApiToken
from pipeline.tokens import token_make, token_revoke


class Command(BaseCommand):
    help = "Make a personal API token for a user (printed once; only its hash is kept), or revoke one."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--user", required=True, help="The username the token acts as.")
        parser.add_argument("--name", default="command line", help="What the token is for.")
        parser.add_argument("--revoke", metavar="PREFIX", help="Revoke the user's token with this prefix instead.")

    def handle(self, *args: Any, **options: Any) -> None:
        user = get_user_model().objects.filter(username=options["user"]).first()
        if user is None:
            raise CommandError(f"No user named {options['user']!r}; check the username in the admin.")
        if not (user.is_active and user.is_staff):
            raise CommandError(f"{user.get_username()} is not active staff; a token would be refused.")
        if options["revoke"]:
            token = ApiToken.objects.filter(user=user, prefix=options["revoke"]).first()
            if token is None:
                raise CommandError(f"{user.get_username()} has no token with the prefix {options['revoke']!r}.")
            token_revoke(token=token)
            self.stdout.write(f"Revoked {token}.")
            return
        made = token_make(user_id=user.pk, name=options["name"].strip() or "command line")
        self.stdout.write(made.secret)
        self.stderr.write(
            f"Token {made.token.prefix}… for {user.get_username()}: shown only now; send it as "
            "'Authorization: Bearer <token>'."
        )
