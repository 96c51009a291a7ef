"""OpenAI wire models, one module per endpoint family.

Requests are decoded once into a plain dict (what is forwarded, unknown fields included) and
validated against a typed struct (what the gateway itself relies on).
"""
