"""Put on PYTHONPATH by tests/faults/cluster.py for the short form of the fault test only: the
chatdesk processes it starts use a lease of CHATDESK_TEST_OUTBOX_LEASE seconds instead of 60, so
that the posts a killed worker held are retried within a run of seconds (storage.outbox keeps
each call inside the lease, whatever its length). The full form runs with the real lease."""

import os

if os.environ.get("CHATDESK_TEST_OUTBOX_LEASE"):
    from datetime import timedelta

    import storage.outbox

    storage.outbox.LEASE = timedelta(seconds=float(os.environ["CHATDESK_TEST_OUTBOX_LEASE"]))
