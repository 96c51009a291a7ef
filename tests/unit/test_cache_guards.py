"""The semantic cache's guards veto pairs that differ in a detail and let rewordings through."""

from __future__ import annotations

import pytest

from gateway.cache.guards import GUARDS, incompatible, signature


def veto(a: str, b: str, guards: tuple[str, ...] = GUARDS) -> str | None:
    return incompatible(signature(a), signature(b), guards)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Can I return it after 14 days?", "Can I return it after 40 days?"),
        ("Remind me at 7am", "Remind me at 7pm"),
        ("Summarise this in 3 bullet points", "Summarise this in five bullet points"),
        ("What's the stamp duty on a £250,000 house?", "What's the stamp duty on a £600,000 house?"),
    ],
)
def test_different_numbers_are_vetoed(a: str, b: str) -> None:
    assert veto(a, b, ("number",)) == "number"


def test_the_same_number_written_in_words_or_digits_passes() -> None:
    assert veto("Table for 2 please", "Table for two please", ("number",)) is None


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Cancel my subscription", "Don't cancel my subscription"),
        ("Which plans include international calls?", "Which plans do not include international calls?"),
        ("Can I get this medicine with a prescription?", "Can I get this medicine without a prescription?"),
    ],
)
def test_a_negation_on_one_side_only_is_vetoed(a: str, b: str) -> None:
    assert veto(a, b, ("negation",)) == "negation"


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Are you open on Saturday?", "Are you open on Sunday?"),
        ("Is the clinic open on Sundays?", "Is the clinic closed on Sundays?"),
        ("How do I enable dark mode?", "How do I disable dark mode?"),
        ("What's the paracetamol dose for adults?", "What's the paracetamol dose for children?"),
    ],
)
def test_a_different_choice_from_a_contrast_group_is_vetoed(a: str, b: str) -> None:
    assert veto(a, b, ("contrast",)) == "contrast"


def test_a_contrast_word_on_one_side_only_is_not_a_swap() -> None:
    assert veto("Do you deliver on weekends?", "Is weekend delivery available?", ("contrast",)) is None


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Is the deposit refundable?", "Is the deposit non-refundable?"),
        ("How do I lock my card?", "How do I unlock my card?"),
    ],
)
def test_an_opposing_prefix_is_vetoed(a: str, b: str) -> None:
    assert veto(a, b, ("prefix",)) == "prefix"


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Which terminal does BA fly from at Heathrow?", "Which terminal does Virgin fly from at Heathrow?"),
        ("What's the capital of Australia?", "What's the capital of Austria?"),
        ("How do I convert a Word document to PDF?", "How do I convert a PDF to a Word document?"),
        ('Translate "good morning" into French', 'Translate "good night" into French'),
    ],
)
def test_different_names_or_name_order_is_vetoed(a: str, b: str) -> None:
    assert veto(a, b, ("entity",)) == "entity"


def test_names_compare_regardless_of_case() -> None:
    assert veto("Do you accept Apple Pay?", "DO YOU ACCEPT APPLE PAY?", ("entity",)) is None
    assert veto("What's the speed limit in the UK?", "what's the speed limit in the uk", ("entity",)) is None


def test_a_name_in_its_plural_or_possessive_form_is_the_same_name() -> None:
    assert veto("Is the clinic open on Sundays?", "Can I come to the clinic on a Sunday?", ("entity",)) is None
    assert veto("What is Seattle's weather like in January?", "Weather in Seattle in January?", ("entity",)) is None
    assert veto("Is the clinic open on Sundays?", "Is the clinic open on Mondays?", ("entity",)) == "entity"


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("How do I move money from my ISA to my credit card?", "How do I move money from my credit card to my ISA?"),
        ("How can I transfer money from my joint account into my ISA?", "Moving funds from my ISA to my joint account"),
        ("How long is the train from London to Paris?", "How long does the train from Paris to London take?"),
    ],
)
def test_a_transfer_or_journey_the_other_way_round_is_vetoed(a: str, b: str) -> None:
    assert veto(a, b, ("direction",)) == "direction"


def test_the_same_direction_in_other_words_passes() -> None:
    moved = ("How do I move money from my ISA to my credit card?", "Can I transfer cash from my ISA into my card?")
    assert veto(*moved, ("direction",)) is None
    stayed = ("Can I work from home to look after my kids?", "Can I work from home to care for them?")
    assert veto(*stayed, ("direction",)) is None


def test_a_one_word_swap_is_vetoed_but_a_typo_is_not() -> None:
    assert veto("What does my home insurance cover?", "What does my car insurance cover?", ("substitution",))
    assert veto("How do I read my electricity meter?", "How do I read my electricty meter?") is None


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("How do I fix a dripping tap?", "okay so how do i fix a dripping tap"),
        ("What is the notice period to end my tenancy?", "Hi! What is the notice period to end my tenancy? Cheers"),
        ("How do I cancel a hotel booking?", "How do I cancel a hotel booking?"),
    ],
)
def test_rewordings_and_fillers_pass_every_guard(a: str, b: str) -> None:
    assert veto(a, b) is None
