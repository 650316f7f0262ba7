"""dvgs: data valuation with gradient similarity for LINCS L1000 signatures."""

import logging

__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())
