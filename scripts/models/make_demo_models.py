#!/usr/bin/env python
"""Build the demo models into models/ (the training itself lives in the demo/ package).

    python scripts/models/make_demo_models.py [--out DIR] [--quick] [--seed N] [--corpus DIR] [--force]

See demo/build.py for what is built and how; `--help` lists every option.
"""

import sys

from demo.build import main

if __name__ == "__main__":
    sys.exit(main())
