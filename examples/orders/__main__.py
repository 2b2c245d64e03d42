"""`python -m examples.orders`: run the demo (what `make demo` does).

The app is named by its import string, so WORKERS=n can start workers that import it.
"""

import bastion

bastion.run("examples.orders.main:app")
