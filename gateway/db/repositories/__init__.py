"""Storage access, one module per aggregate: plain async functions over an ``AsyncSession``.

They flush but never commit: the caller owns the transaction.
"""
