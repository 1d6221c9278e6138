"""The review links of a request's open gates, for its owner (`get_status`, `mangaflow status`):
the same link the gate announced, signed again (a gate's token is a function of the gate)."""
from __future__ import annotations

import time
from typing import Any

from ..hitl import tokens
from .gates import approval_url, deadline_epoch


def open_gate_links(state: dict[str, Any]) -> list[dict[str, Any]]:
    """[{phase, gate_id, deadline, approval_url}] for every gate still waiting; each gate row in
    `state` gets its `approval_url` too."""
    links = []
    for phase in state.get("phases", []):
        for gate in phase.get("gates", []):
            if gate.get("decided_at") is not None or gate.get("timed_out"):
                continue
            expires = deadline_epoch(gate)
            if expires <= time.time():
                continue
            url = approval_url(state["request_id"], int(gate["phase"]), gate["gate_id"],
                               tokens.sign(state["request_id"], int(gate["phase"]), gate["gate_id"], expires))
            gate["approval_url"] = url
            links.append({"phase": int(gate["phase"]), "gate_id": gate["gate_id"], "deadline": expires,
                          "approval_url": url})
    return links
