#!/usr/bin/env python
import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    try:
        execute_from_command_line(sys.argv)
    except ImproperlyConfigured as error:
        # A missing or malformed setting: one line that says what to set, not a traceback.
        sys.stderr.write(f"Ladder is not configured: {error}\n")
        sys.exit(2)


if __name__ == "__main__":
    main()
