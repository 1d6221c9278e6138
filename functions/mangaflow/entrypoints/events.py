"""The Pub/Sub push subscribers (infra/pubsub.yaml): each takes the standard push envelope and
answers 2xx to acknowledge it; any other answer makes Pub/Sub deliver the event again."""
from __future__ import annotations

import datetime as dt

import flask
import functions_framework

from ..bootstrap import stores
from ..service import subscribers
from ._http import json_endpoint

Body = dict


def cleanup_now(max_idle_s: int = 3600) -> dict:
    """The hourly cleanup job's work, run at once (the scheduled job and the long-session alert)."""
    from ..maintenance import cleanup
    from ..stores.chat import chat_store
    from ..stores.sessions import session_store

    return cleanup(stores(), session_store().client, chat_store().client, dt.datetime.now(dt.timezone.utc),
                   max_idle_s=max_idle_s)


@functions_framework.http
@json_endpoint("http/pubsub_push")
def hitl_feedback_processor(body: Body, request: flask.Request) -> dict:
    return subscribers.notify_review_link(stores(), subscribers.delivery(body))


@functions_framework.http
@json_endpoint("http/pubsub_push")
def phase_transition_handler(body: Body, request: flask.Request) -> dict:
    return subscribers.record_phase_transition(stores(), subscribers.delivery(body))


@functions_framework.http
@json_endpoint("http/pubsub_push")
def session_cleanup_service(body: Body, request: flask.Request) -> dict:
    return subscribers.clean_up_session(stores(), subscribers.delivery(body), cleanup_now)
