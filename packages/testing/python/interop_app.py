"""A Python Celery app for tq's interoperability tests.

Its broker, backend and default queue come from the environment (TQ_BROKER_URL,
TQ_BACKEND_URL, TQ_QUEUE), so the same module serves the Redis and RabbitMQ suites.
Tasks are named ``py.*``; tq tasks called from here are sent by name.
"""
import os
import time

from celery import Celery

app = Celery(
    'interop',
    broker=os.environ.get('TQ_BROKER_URL', 'redis://127.0.0.1:6379/0'),
    backend=os.environ.get('TQ_BACKEND_URL') or None,
)
app.conf.update(
    task_serializer='json',
    accept_content=['json'],
    result_serializer='json',
    result_accept_content=['json'],
    result_extended=True,
    task_default_queue=os.environ.get('TQ_QUEUE', 'celery'),
    worker_hijack_root_logger=False,
    worker_prefetch_multiplier=1,
    broker_connection_retry_on_startup=True,
    enable_utc=True,
)


@app.task(name='py.add')
def add(x, y):
    return x + y


@app.task(name='py.mul')
def mul(x, y):
    return x * y


@app.task(name='py.xsum')
def xsum(numbers):
    return sum(numbers)


@app.task(name='py.fail')
def fail(message):
    raise ValueError(message)


@app.task(name='py.echo')
def echo(*args, **kwargs):
    return {'args': list(args), 'kwargs': kwargs}


@app.task(name='py.sleep')
def sleep(seconds):
    time.sleep(seconds)
    return seconds


@app.task(name='py.request', bind=True)
def request(self, *args, **kwargs):
    """Returns what the worker saw of the request (ids, retries, group, delivery info)."""
    r = self.request
    return {
        'id': r.id,
        'args': list(args),
        'kwargs': kwargs,
        'root_id': r.root_id,
        'parent_id': r.parent_id,
        'group': r.group,
        'group_index': getattr(r, 'group_index', None),
        'retries': r.retries,
        'eta': str(r.eta) if r.eta else None,
        'priority': (r.delivery_info or {}).get('priority'),
        'routing_key': (r.delivery_info or {}).get('routing_key'),
    }
