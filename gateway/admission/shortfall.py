"""The 402 of a prepaid customer whose balance does not cover a request's worst case.

A request reserves its worst case (its prompt and every token ``max_tokens`` allows) against the
prepaid balance. A customer with money left can still be refused: then the answer says how much is
left, what the request could cost, and the largest ``max_tokens`` that would fit, instead of "run out".
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from gateway.core.errors import TollgateError
from gateway.metering.pricing import ModelRates, format_usd, to_micros, token_cost_usd
from gateway.metering.usage import TokenUsage


class CreditShort(TollgateError):
    status = 402
    type = "insufficient_quota"
    default_code = "insufficient_quota"

    def __init__(self, message: str, balance: Balance, *, param: str | None = None) -> None:
        super().__init__(message, param=param)
        self.balance = balance


@dataclass(frozen=True, slots=True)
class Balance:
    """What the admission store holds for a prepaid customer when it refused a request."""

    balance_micros: int  # the ledger's balance
    held_micros: int  # reserved by this customer's requests in flight
    grace_micros: int  # how far below zero the balance may go

    @property
    def spendable_micros(self) -> int:
        return self.balance_micros - self.held_micros + self.grace_micros


def refusal(balance: Balance, worst_micros: int) -> CreditShort:
    """The refusal of a request whose worst case is ``worst_micros``, before its prompt is known."""
    if balance.spendable_micros <= 0:
        spent = f"This customer has run out of its prepaid credits (balance ${_usd(balance.balance_micros)})."
        return CreditShort(spent, balance)
    return CreditShort(f"{_state(balance)}, does not cover this request's worst case, ${_usd(worst_micros)}.", balance)


@dataclass(frozen=True, slots=True)
class Priced:
    """A request's prompt at its model's prices and its customer's markup."""

    rates: ModelRates
    markup_percent: Decimal
    prompt_tokens: int

    def cost_of(self, output_tokens: int) -> int:
        """The worst case, in micro-dollars, of the prompt and this many output tokens."""
        usage = TokenUsage(input=self.prompt_tokens, output=output_tokens)
        return to_micros(token_cost_usd(self.rates, usage), self.markup_percent)


def explained(balance: Balance, priced: Priced, output_tokens: int, choices: int) -> CreditShort:
    """The refusal of a request with a prompt and ``output_tokens`` reserved for its answer (over
    ``choices`` choices): with the largest ``max_tokens`` that its balance would admit."""
    worst = priced.cost_of(output_tokens)
    if balance.spendable_micros <= 0 or output_tokens <= 0:
        return refusal(balance, worst)
    fits = _largest_fitting(priced, output_tokens, balance.spendable_micros) // choices
    state = f"{_state(balance)}, does not cover this request's worst case, ${_usd(worst)} (its prompt and "
    state += f"{output_tokens // choices} max_tokens{f' × {choices} choices' if choices > 1 else ''})"
    if fits < 1:
        return CreditShort(f"{state}; its prompt alone costs more. Add credit to send it.", balance, param="messages")
    return CreditShort(f"{state}. Send max_tokens {fits} or less, or add credit.", balance, param="max_tokens")


def _state(balance: Balance) -> str:
    state = f"This customer's prepaid balance, ${_usd(balance.balance_micros)}"
    if balance.held_micros:
        state += f" (${_usd(balance.held_micros)} of it held by requests in flight)"
    return state


def _largest_fitting(priced: Priced, most: int, spendable: int) -> int:
    """The most output tokens, up to ``most``, whose worst case is within ``spendable``; 0 if none."""
    low, high = 0, most
    while low < high:
        middle = (low + high + 1) // 2
        if priced.cost_of(middle) <= spendable:
            low = middle
        else:
            high = middle - 1
    return low if priced.cost_of(low) <= spendable else -1


def _usd(micros: int) -> str:
    """Dollars as a person reads them: ``0.50``, ``0.000123``."""
    exact = format_usd(micros).rstrip("0")
    whole, _, cents = exact.partition(".")
    return f"{whole}.{cents.ljust(2, '0')}"
