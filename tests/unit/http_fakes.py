"""Scripted HTTP answers for client unit tests (I/O faked; the clients' retry logic is real)."""

import json

import requests


def response(status: int, body, url: str = "http://standin/", headers=None) -> requests.Response:
    r = requests.Response()
    r.status_code = status
    r._content = body if isinstance(body, bytes) else json.dumps(body).encode()
    r.headers.update(headers or {})
    r.url = url
    return r


class ScriptedSession:
    """Answers from a list (an exception is raised), recording every call (url, params, headers)."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.calls: list[dict] = []

    def get(self, url, params, timeout, headers):
        self.calls.append({"url": url, "params": dict(params), "headers": dict(headers)})
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer
