"""The interop app for the MongoDB tests, on a FerretDB v1 server.

FerretDB v1 refuses documents with an array inside an array, and Celery's result_extended
stores a task's args natively: a chord body's args ([[2, 4, 6, 8]]) could not be stored.
So this app is interop_app without result_extended; everything else is the same.
"""
from interop_app import app  # noqa: F401  (the tasks register on import)

app.conf.result_extended = False
