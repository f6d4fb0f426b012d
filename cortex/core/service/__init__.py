"""Core's logic, one module per domain; the chat pipeline is cortex.core.chat, live streams cortex.core.live."""

from cortex.core.service.bots import BotService, forget_widget_config
from cortex.core.service.conversations import ConversationService, record_message, start_conversation
from cortex.core.service.erasure import ErasureService
from cortex.core.service.handoff import HandoffService
from cortex.core.service.profiles import ProfileService, enrich_profile

__all__ = [
    "BotService",
    "ConversationService",
    "ErasureService",
    "HandoffService",
    "ProfileService",
    "enrich_profile",
    "forget_widget_config",
    "record_message",
    "start_conversation",
]
