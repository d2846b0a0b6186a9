#!/usr/bin/env python3
"""Django's command line for the benchmark's djoser (run.sh calls it for `migrate`)."""

import os
import sys
from pathlib import Path

if __name__ == "__main__":
    # The settings, urls and wsgi modules sit beside this file.
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
