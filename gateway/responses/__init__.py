"""OpenAI's Responses API (``/v1/responses``), answered through the chat pipeline and stored per customer."""
