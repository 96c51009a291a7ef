"""Accuracy feedback: customers score the answers they got (``POST /v1/feedback``)."""
