"""The status-query budget (interfax/ratelimit.py), shared by the tracker and `send --wait`: every time is
passed in, so the rules are checked on made-up clocks without sleeping."""

from __future__ import annotations

from faxdropd.interfax.ratelimit import QUERY_WINDOW, QueryBudget


def test_six_fit_in_a_window_and_the_seventh_waits_for_the_first_to_leave() -> None:
    budget = QueryBudget(6)
    assert all(budget.take(float(t)) for t in range(6))
    assert not budget.take(6.0)
    assert budget.free_at(6.0) == QUERY_WINDOW  # the first, taken at 0, leaves the window then
    assert not budget.take(QUERY_WINDOW - 0.001)
    assert budget.take(QUERY_WINDOW)


def test_the_window_is_wider_than_interfax_sixty_seconds() -> None:
    assert QUERY_WINDOW > 60.0


def test_a_query_counts_from_its_reply_not_from_when_it_was_asked() -> None:
    budget = QueryBudget(1)
    assert budget.take(0.0)
    budget.settle(25.0)  # a slow call: InterFAX may have admitted it as late as this
    assert budget.free_at(30.0) == 25.0 + QUERY_WINDOW
    budget.settle(10.0)  # settling never moves a query earlier
    assert budget.free_at(30.0) == 25.0 + QUERY_WINDOW


def test_a_back_off_blocks_even_an_empty_budget() -> None:
    budget = QueryBudget(6)
    budget.back_off(100.0, QUERY_WINDOW)
    assert not budget.take(100.0 + QUERY_WINDOW - 1)
    assert budget.free_at(101.0) == 100.0 + QUERY_WINDOW
    assert budget.take(100.0 + QUERY_WINDOW)


def test_the_budget_survives_a_restart_as_wall_clock_stamps() -> None:
    before = QueryBudget(6)
    for t in (0.0, 10.0, 20.0):
        before.take(t)
    stamps = before.dump(now=30.0, wall=1_000_030.0)
    assert stamps == [1_000_000.0, 1_000_010.0, 1_000_020.0]
    after = QueryBudget(2)  # a smaller limit now: only the newest stamps are kept
    after.load(stamps, now=5.0, wall=1_000_030.0)
    assert not after.take(5.0)
    assert after.free_at(5.0) == 5.0 - 20.0 + QUERY_WINDOW  # the older kept stamp was 20 s before now


def test_a_stamp_from_the_future_counts_as_now() -> None:
    budget = QueryBudget(1)
    budget.load([2_000.0], now=50.0, wall=1_000.0)  # the wall clock went back since it was written
    assert budget.free_at(50.0) == 50.0 + QUERY_WINDOW
