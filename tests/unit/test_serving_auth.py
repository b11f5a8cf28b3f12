"""When authentication is on, which tokens pass, and that tokens stay out of logs."""

import pytest

from energy_orchestration.serving.auth import AuthPolicy, auth_required, bearer_token, is_loopback
from energy_orchestration.serving.server import redact


@pytest.mark.parametrize("host, exposed", [("127.0.0.1", False), ("localhost", False), ("::1", False),
                                           ("127.0.0.2", False), ("0.0.0.0", True), ("::", True),
                                           ("192.168.1.10", True), ("api.example.org", True)])
def test_auto_mode_turns_auth_on_for_every_non_loopback_address(host, exposed):
    assert is_loopback(host) is not exposed
    assert auth_required("auto", host) is exposed
    assert auth_required("on", host) is True and auth_required("off", host) is False


def test_unknown_mode_and_missing_tokens_fail_at_start_up():
    with pytest.raises(ValueError, match="ENERGY_API_AUTH"):
        auth_required("maybe", "127.0.0.1")
    with pytest.raises(ValueError, match="ENERGY_API_TOKENS is empty"):
        AuthPolicy.build("auto", "0.0.0.0", " , ")


def test_only_configured_tokens_pass_and_the_policy_never_shows_them():
    policy = AuthPolicy.build("on", "127.0.0.1", "alpha, beta")
    assert policy.allows("beta") and not policy.allows("gamma") and not policy.allows(None) and not policy.allows("")
    assert "alpha" not in repr(policy) and "alpha" not in policy.describe()
    assert AuthPolicy.build("auto", "127.0.0.1", "").allows(None)


def test_bearer_header_parsing():
    assert bearer_token("Bearer abc") == "abc" and bearer_token("bearer  abc ") == "abc"
    assert bearer_token("Basic abc") is None and bearer_token(None) is None and bearer_token("Bearer ") is None


def test_tokens_in_urls_are_redacted_for_logs():
    assert (redact('"WebSocket /api/v1/live?zone=DK&token=abc123" 101')
            == '"WebSocket /api/v1/live?zone=DK&token=***" 101')
