"""python -m shop_pipeline.synth: generate the sample shop."""

import sys

from shop_pipeline.synth.cli import main

sys.exit(main())
