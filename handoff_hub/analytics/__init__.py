"""Analytics computed from what the hub stores: conversations, messages, handoff tickets, the
audit trail and the bot's tracker events. Definitions: docs/subsystems/analytics.md."""
