import sys

from metrics_operator.cli.main import main

sys.exit(main())
