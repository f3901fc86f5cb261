"""``python -m wavguard``: the ``wavguard`` command (:func:`wavguard.cli.main`) without the console script."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
