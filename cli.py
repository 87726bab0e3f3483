"""``python cli.py ...``: the Aladdin command line (same as the ``aladdin`` console script)."""

from core.cli import main

if __name__ == "__main__":
    main()
