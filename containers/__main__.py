"""``python -m metrics_operator.containers``: run one metric collector in a metric container."""

import sys

from metrics_operator.containers.entrypoint import main

sys.exit(main())
