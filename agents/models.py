"""Agents domain: agents, conversations, state, memory and interaction events (a later issue).

Nothing here yet."""
