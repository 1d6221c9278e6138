"""HTTP entry point of translation: the owner's finished book re-lettered in the other language."""
from __future__ import annotations

import flask
import functions_framework

from ..bootstrap import stores
from ..service import access
from ..service.translate import translate_book
from ._http import json_endpoint
from .pipeline import client_address


@functions_framework.http
@json_endpoint("http/translate")
def translate(body: dict, request: flask.Request) -> tuple[dict, int]:
    return translate_book(stores(), body, access.caller(request.headers), client_address(request)), 201
