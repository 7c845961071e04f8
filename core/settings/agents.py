"""The agents app: the LLM, what a chat turn retrieves, memory recall, and the interaction
events' partitions."""

from __future__ import annotations

import json
import os

from core.settings.env import env_int, env_list

# The LLM the agents answer with (agents/llm/): {"BACKEND": "dotted.Class", ...options}, or
# several by name ({"default": {...}, "fast": {...}}) that an agent picks. Unset (or "{}"): the
# offline extractive responder (answers only with cited passages). The OpenAI-compatible backend:
# {"BACKEND": "agents.llm.openai_chat.OpenAIChat", "MODEL": "gpt-4o-mini", "BASE_URL": "...",
#  "API_KEY_ENV": "STRATA_LLM_API_KEY", "TIMEOUT": 30, "MAX_RETRIES": 2} (the key from the environment).
STRATA_AGENTS_LLM: dict = json.loads(os.environ.get("STRATA_AGENTS_LLM") or "{}")
# Tools an agent may be allowed to use (names; none are built in yet).
STRATA_AGENTS_TOOLS: list[str] = env_list("STRATA_AGENTS_TOOLS", [])
# What one chat turn retrieves: passages from content search, documents/facts from graph-aware
# retrieval, memories; and how many passages the offline responder quotes.
STRATA_AGENTS_PASSAGES = env_int("STRATA_AGENTS_PASSAGES", 6)
STRATA_AGENTS_MEMORIES = env_int("STRATA_AGENTS_MEMORIES", 5)
STRATA_AGENTS_QUOTES = env_int("STRATA_AGENTS_QUOTES", 3)
# Memory recall: score = (1 - w) x similarity + w x 0.5 ** (age in days / half-life); memories
# less similar than the floor are not recalled. Near-duplicates (cosine >= the merge similarity)
# are merged into one memory.
STRATA_AGENTS_MEMORY_RECENCY_WEIGHT = float(os.environ.get("STRATA_AGENTS_MEMORY_RECENCY_WEIGHT", "0.2"))
STRATA_AGENTS_MEMORY_HALF_LIFE_DAYS = float(os.environ.get("STRATA_AGENTS_MEMORY_HALF_LIFE_DAYS", "30"))
STRATA_AGENTS_MEMORY_MIN_SIMILARITY = float(os.environ.get("STRATA_AGENTS_MEMORY_MIN_SIMILARITY", "0.15"))
STRATA_AGENTS_MEMORY_MERGE_SIMILARITY = float(os.environ.get("STRATA_AGENTS_MEMORY_MERGE_SIMILARITY", "0.85"))
# Interaction events (agents/flywheel): one partition per UTC day, created this many days ahead
# by beat (and on demand), dropped once older than the retention period.
STRATA_AGENTS_EVENT_RETENTION_DAYS = env_int("STRATA_AGENTS_EVENT_RETENTION_DAYS", 90)
STRATA_AGENTS_EVENT_PARTITIONS_AHEAD = env_int("STRATA_AGENTS_EVENT_PARTITIONS_AHEAD", 7)
