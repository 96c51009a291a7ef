"""The OpenAI generation endpoints (chat, completions, embeddings, images, audio) and their pipeline."""
