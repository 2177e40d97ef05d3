#!/usr/bin/env python
"""Build the demo models into models/ (the training itself lives in the demo/ package).

    python scripts/models/make_demo_models.py [--out DIR] [--quick] [--seed N] [--corpus DIR] [--force]

See demo/train.py for what is built and how; `--help` lists every option.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from demo.train import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
