"""`python -m pls_deploy`: what scripts/deploy/deploy.sh runs."""

import sys

from pls_deploy.cli import main

sys.exit(main())
