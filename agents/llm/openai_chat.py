"""Any OpenAI-compatible chat endpoint through the ``openai`` SDK, streaming:

    {"BACKEND": "agents.llm.openai_chat.OpenAIChat", "MODEL": "gpt-4o-mini",
     "BASE_URL": "http://localhost:8080/v1", "API_KEY_ENV": "STRATA_LLM_API_KEY",
     "TIMEOUT": 30, "MAX_RETRIES": 2, "TEMPERATURE": 0.2}

The prompt holds the agent's instructions, the numbered sources and the recent history; the model
is asked to cite sources as ``[n]``. The key comes from the environment variable named by
``API_KEY_ENV`` (never from the settings file). Connection errors, timeouts, rate limits and
error answers (after the SDK's retries) raise ``LLMError`` with a clear message."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import openai

from agents.llm import BaseLLM, LLMError, Prompt

SYSTEM = (
    "Answer the user's question using only the numbered sources below. Cite every statement with the "
    "number of its source in square brackets, e.g. [2]. If the sources do not answer it, say so."
)
MAX_SOURCE_CHARS = 1500


def messages_for(prompt: Prompt) -> list[dict[str, str]]:
    sources = "\n\n".join(
        f"[{s.n}] {s.title + ': ' if s.title else ''}{s.text[:MAX_SOURCE_CHARS]}" for s in prompt.sources
    )
    system = "\n\n".join(
        part for part in (prompt.instructions.strip(), SYSTEM, f"Sources:\n{sources or '(none)'}") if part
    )
    history = [m for m in prompt.history if m.get("role") in ("user", "assistant") and m.get("content")][-10:]
    return [{"role": "system", "content": system}, *history, {"role": "user", "content": prompt.question}]


class OpenAIChat(BaseLLM):
    def __init__(
        self,
        *,
        model: str = "gpt-4o-mini",
        base_url: str | None = None,
        api_key_env: str = "STRATA_LLM_API_KEY",
        timeout: float = 30.0,
        max_retries: int = 2,
        temperature: float = 0.2,
        **options: Any,
    ) -> None:
        super().__init__(model=model, base_url=base_url, **options)
        self.model, self.temperature = model, float(temperature)
        self.name = f"openai:{model}"
        self.client = openai.OpenAI(
            base_url=base_url or os.environ.get("STRATA_LLM_BASE_URL") or None,
            api_key=os.environ.get(api_key_env) or "not-needed",
            timeout=float(timeout),
            max_retries=int(max_retries),
        )

    def stream(self, prompt: Prompt) -> Iterator[str]:
        try:
            chunks = self.client.chat.completions.create(
                model=self.model, messages=messages_for(prompt), temperature=self.temperature, stream=True
            )
            for chunk in chunks:
                if chunk.choices and chunk.choices[0].delta and chunk.choices[0].delta.content:
                    yield chunk.choices[0].delta.content
        except openai.APITimeoutError:
            raise LLMError(f"The language model ({self.model}) did not answer in time. Please try again.") from None
        except openai.RateLimitError:
            raise LLMError(
                f"The language model ({self.model}) is rate limited right now. Please try again in a moment."
            ) from None
        except openai.APIConnectionError:
            raise LLMError(f"The language model ({self.model}) could not be reached. Please try again later.") from None
        except openai.APIStatusError as exc:
            raise LLMError(f"The language model ({self.model}) answered with an error ({exc.status_code}).") from None
        except openai.APIError as exc:
            raise LLMError(f"The language model ({self.model}) failed: {exc.message}") from None
