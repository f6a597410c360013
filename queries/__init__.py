"""The read side: named, parameterised SQL in ``named/*.sql`` and the code that runs it.

The dashboard, the daily report and ``memmoat query`` all run these same statements
through :func:`queries.runner.run_named`, on short read-only connections.
"""
