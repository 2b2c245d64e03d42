"""The session service: Goa's example implementation."""

from __future__ import annotations

import secrets
from typing import Any

from bastion import log


class Session:
    """Creates session IDs (sent as the `SID` cookie) and uses them."""

    async def create_session(self, p: Any) -> dict[str, str]:
        """A new session: its ID goes out in the `SID` cookie, the message in the body."""
        sid = secrets.token_hex(10)  # 20 characters, as Goa's example's xid
        log.info("created session", session=sid)
        return {"session_id": sid, "message": "new session created"}

    async def use_session(self, p: Any) -> dict[str, str]:
        """Use the session the `SID` cookie names."""
        return {"message": f'using session "{p.session_id}"'}
