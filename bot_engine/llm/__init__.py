"""Optional LLM parts of the engine, against any OpenAI-compatible chat-completions endpoint.

Off unless configured: an LLM command generator in config.yml's pipeline, and the contextual
response rephraser with `nlg: {type: rephrase}` in endpoints.yml. Both take plain data and
never raise at conversation time; see docs/llm.md.
"""

from bot_engine.llm.answer_parser import parse_llm_answer
from bot_engine.llm.client import LLMClient, LLMError
from bot_engine.llm.command_generator import (
    COMMAND_GENERATOR_COMPONENTS,
    CommandPromptInputs,
    LLMCommandGenerator,
    command_generator_from_pipeline,
)
from bot_engine.llm.config import LLMConfigError
from bot_engine.llm.rephraser import ResponseRephraser

__all__ = [
    "COMMAND_GENERATOR_COMPONENTS",
    "CommandPromptInputs",
    "LLMClient",
    "LLMCommandGenerator",
    "LLMConfigError",
    "LLMError",
    "ResponseRephraser",
    "command_generator_from_pipeline",
    "parse_llm_answer",
]
