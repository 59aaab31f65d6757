"""PyInstaller entry point of the `oasis-studio` bundle: the same `main` as the `oasis-studio` console script."""

import multiprocessing
import sys

from app.main import main

if __name__ == "__main__":
    multiprocessing.freeze_support()  # must run first in a frozen program that may start worker processes
    sys.exit(main())
