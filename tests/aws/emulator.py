"""moto's server with each request handled atomically.

moto's threaded server evaluates DynamoDB condition expressions without a lock, so two concurrent
conditional writes can both succeed, which real DynamoDB never allows. Tests of racing writers
need the real guarantee, so this wraps moto's WSGI app in one lock (requests still arrive on many
connections; they are applied one at a time, as a single partition would).

    python emulator.py HOST PORT
"""
import sys
import threading

from werkzeug.serving import run_simple
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app

moto_app = DomainDispatcherApplication(create_backend_app)
lock = threading.Lock()


def app(environ, start_response):
    with lock:
        return list(moto_app(environ, start_response))


if __name__ == "__main__":
    run_simple(sys.argv[1], int(sys.argv[2]), app, threaded=True, use_reloader=False, request_handler=MotoRequestHandler)
