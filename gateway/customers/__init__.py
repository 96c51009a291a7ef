"""Customers and their prepaid credits: who is billed, their terms, and the credit ledger."""
