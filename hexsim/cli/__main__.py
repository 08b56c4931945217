"""`python -m hexsim.cli`."""

import sys

from hexsim.cli import main

sys.exit(main())
