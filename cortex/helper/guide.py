"""The helper's guidance for a live conversation.

The helper learns which conversation patterns succeed (a later piece of work); until it has
learned anything it answers, quickly and explicitly, that it has no guidance — so the chat
pipeline already calls it concurrently with retrieval, with its timeout and degradation.
"""

from __future__ import annotations

import uuid

from cortex.contracts.guidance import NO_GUIDANCE, Guidance


class Guide:
    async def advise(
        self, *, workspace_id: uuid.UUID, bot_id: uuid.UUID, conversation_id: uuid.UUID, message: str
    ) -> Guidance:
        return NO_GUIDANCE
