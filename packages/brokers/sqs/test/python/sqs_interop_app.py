"""The interop app (``packages/testing/python/interop_app.py``) on kombu's SQS transport.

Python Celery 5.2.6 / kombu 5.2.4 with boto3 1.35.99 (TQ_PYTHON_VENV). kombu 5.2 consumes
through its own asynchronous HTTP client, which speaks SQS's old Query protocol (form-encoded
POSTs to the queue URL) and parses the replies with botocore's service model; botocore 1.35
describes SQS with the JSON protocol, and fauxqs speaks only JSON for SQS (a Query POST to a
queue URL reaches its S3 routes). So this module marks the transport as synchronous: the
worker then runs Celery's synchronous loop, and kombu's SQS channel receives, acknowledges and
publishes with boto3 (``_get_bulk``, ``delete_message``, ``send_message``), the code path kombu
uses without an event loop. Names, envelope and queue layout are kombu's, unchanged.

Transport options come as JSON in TQ_SQS_OPTIONS (queue_name_prefix, region, wait_time_seconds…).
"""
import json
import os

import kombu.transport.SQS as SQS
from kombu.transport import TRANSPORT_ALIASES


class SyncTransport(SQS.Transport):
    """kombu's SQS transport without the asynchronous (pycurl, Query protocol) consumer."""

    implements = SQS.Transport.implements.extend(asynchronous=False)


TRANSPORT_ALIASES['sqs'] = 'sqs_interop_app:SyncTransport'

from interop_app import *  # noqa: E402,F401,F403  (registers the py.* tasks)
from interop_app import app  # noqa: E402

app.conf.broker_transport_options = json.loads(os.environ.get('TQ_SQS_OPTIONS') or '{}')

if os.environ.get('TQ_SQS_CALLS_FILE'):
    # The benchmark's API-call count: every botocore call this process makes (one line per process).
    import atexit

    from botocore.client import BaseClient

    _calls = {'n': 0}
    _make_api_call = BaseClient._make_api_call

    def _counting(self, operation_name, api_params):
        _calls['n'] += 1
        return _make_api_call(self, operation_name, api_params)

    BaseClient._make_api_call = _counting

    def _report():
        with open(os.environ['TQ_SQS_CALLS_FILE'], 'a') as f:
            f.write(f"{_calls['n']}\n")

    atexit.register(_report)
