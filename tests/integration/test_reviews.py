"""Reviews: one per user and product, verified purchases, moderation, helpful votes."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session
from tests import factories as f

import paykit
from paykit import models as m
from paykit.clock import FrozenClock
from paykit.errors import Conflict, NotFound, PermissionDenied, ValidationError
from paykit.security import Actor

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
CLOCK = FrozenClock(T0)


def _actor(session: Session, role: m.UserRole = m.UserRole.CUSTOMER) -> Actor:
    return Actor.of(f.user(session, role=role))


def _bought(session: Session, actor: Actor, product: m.Product, **kw: Any) -> m.Order:
    user = session.get(m.User, actor.user_id)
    assert user is not None
    status = kw.pop("status", m.OrderStatus.COMPLETED)
    return f.order(session, user, product=product, status=status, **kw)


def _review(session: Session, actor: Actor, product: m.Product, **kw: Any) -> paykit.ReviewOut:
    return paykit.create_review(
        session,
        actor=actor,
        product_id=product.id,
        rating=kw.pop("rating", 4),
        content=kw.pop("content", "Does what it says."),
        clock=CLOCK,
        **kw,
    )


def test_a_review_of_a_bought_product_is_verified(session: Session) -> None:
    alice, bob = _actor(session), _actor(session)
    product = f.product(session)
    _bought(session, alice, product)
    mine = _review(session, alice, product, rating=5, title="Great")
    theirs = _review(session, bob, product, rating=2)
    assert (mine.verified, theirs.verified) == (True, False)
    assert (mine.rating, mine.title, mine.helpful, mine.hidden) == (5, "Great", 0, False)
    audit = session.scalars(
        sa.select(m.AuditLog.action).where(m.AuditLog.resource_id == mine.id)
    ).all()
    assert audit == ["review.created"]


@pytest.mark.parametrize(
    "order_kw",
    [
        {"status": m.OrderStatus.PENDING},
        {"status": m.OrderStatus.CANCELLED},
        {"status": m.OrderStatus.REFUNDED},
        {"refunded_amount": Decimal("10.00")},
    ],
)
def test_unpaid_or_refunded_purchases_do_not_verify(session: Session, order_kw: Any) -> None:
    alice = _actor(session)
    product = f.product(session)
    _bought(session, alice, product, **order_kw)
    assert _review(session, alice, product).verified is False


def test_a_partly_refunded_purchase_still_verifies(session: Session) -> None:
    alice = _actor(session)
    product = f.product(session)
    _bought(session, alice, product, refunded_amount=Decimal("4.00"))
    assert _review(session, alice, product).verified is True


def test_one_review_per_user_and_product(session: Session) -> None:
    alice = _actor(session)
    product = f.product(session)
    _review(session, alice, product)
    with pytest.raises(Conflict) as caught:
        _review(session, alice, product, rating=1)
    assert caught.value.code == "review_exists"
    # The session is still usable and holds one review.
    count = session.scalar(
        sa.select(sa.func.count()).where(m.ProductReview.product_id == product.id)
    )
    assert count == 1


@pytest.mark.parametrize("rating", [0, 6, -1, 100])
def test_ratings_are_one_to_five_stars(session: Session, rating: int) -> None:
    with pytest.raises(ValidationError) as caught:
        _review(session, _actor(session), f.product(session), rating=rating)
    assert caught.value.code == "invalid_rating"


@pytest.mark.parametrize(
    "bad", [{"rating": True}, {"rating": "5"}, {"content": "  "}, {"content": None}]
)
def test_bad_review_input_is_refused(session: Session, bad: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        _review(session, _actor(session), f.product(session), **bad)


@pytest.mark.parametrize("status", [m.ProductStatus.DRAFT, m.ProductStatus.ARCHIVED])
def test_unpublished_products_cannot_be_reviewed(session: Session, status: m.ProductStatus) -> None:
    with pytest.raises(NotFound):
        _review(session, _actor(session), f.product(session, status=status))


def test_only_the_author_edits_and_a_refund_unverifies(session: Session) -> None:
    alice, bob = _actor(session), _actor(session)
    product = f.product(session)
    order = _bought(session, alice, product)
    review = _review(session, alice, product, title="Nice")
    with pytest.raises(NotFound):
        paykit.edit_review(session, actor=bob, review_id=review.id, rating=1, clock=CLOCK)
    f.refund(session, order, order.total_amount)
    edited = paykit.edit_review(
        session, actor=alice, review_id=review.id, rating=3, title="", clock=CLOCK
    )
    assert (edited.rating, edited.title, edited.verified, edited.content) == (
        3,
        None,
        False,
        "Does what it says.",
    )


def test_delete_by_author_or_staff_but_not_by_another_customer(session: Session) -> None:
    alice, bob = _actor(session), _actor(session)
    support = _actor(session, m.UserRole.SUPPORT)
    product = f.product(session)
    first = _review(session, alice, product)
    with pytest.raises(NotFound):
        paykit.delete_review(session, actor=bob, review_id=first.id, clock=CLOCK)
    paykit.delete_review(session, actor=alice, review_id=first.id, clock=CLOCK)
    second = _review(session, bob, product)
    paykit.delete_review(session, actor=support, review_id=second.id, clock=CLOCK)
    assert (
        session.scalar(sa.select(sa.func.count()).where(m.ProductReview.product_id == product.id))
        == 0
    )


def test_hidden_reviews_leave_listings_and_summaries(session: Session) -> None:
    alice, bob, carol = _actor(session), _actor(session), _actor(session)
    admin = _actor(session, m.UserRole.ADMIN)
    product = f.product(session)
    kept = _review(session, alice, product, rating=5)
    spam = _review(session, bob, product, rating=1)
    with pytest.raises(PermissionDenied):
        paykit.hide_review(session, actor=carol, review_id=spam.id, clock=CLOCK)
    hidden = paykit.hide_review(session, actor=admin, review_id=spam.id, reason="spam", clock=CLOCK)
    assert hidden.hidden is True
    public = paykit.list_reviews(session, product_id=product.id)
    assert [r.id for r in public.items] == [kept.id]
    staff_view = paykit.list_reviews(session, product_id=product.id, actor=admin)
    assert {r.id for r in staff_view.items} == {kept.id, spam.id}
    summary = paykit.rating_summary(session, product_id=product.id)
    assert (summary.count, summary.average, summary.distribution[1]) == (1, Decimal("5.00"), 0)
    # The author still sees their hidden review; others do not.
    assert paykit.get_review(session, review_id=spam.id, actor=bob).hidden is True
    with pytest.raises(NotFound):
        paykit.get_review(session, review_id=spam.id, actor=carol)
    with pytest.raises(NotFound):
        paykit.get_review(session, review_id=spam.id)
    shown = paykit.hide_review(session, actor=admin, review_id=spam.id, hidden=False, clock=CLOCK)
    assert shown.hidden is False
    actions = session.scalars(
        sa.select(m.AuditLog.action)
        .where(m.AuditLog.resource_id == spam.id)
        .order_by(m.AuditLog.created_at, m.AuditLog.id)
    ).all()
    assert sorted(actions) == ["review.created", "review.hidden", "review.shown"]


def test_rating_summary_average_rounds_half_up(session: Session) -> None:
    product = f.product(session)
    for rating in (5, 4, 4):
        _review(session, _actor(session), product, rating=rating)
    summary = paykit.rating_summary(session, product_id=product.id)
    assert summary.average == Decimal("4.33")
    assert summary.distribution == {1: 0, 2: 0, 3: 0, 4: 2, 5: 1}
    empty = paykit.rating_summary(session, product_id=f.product(session).id)
    assert (empty.count, empty.average) == (0, None)


def test_listing_pages_walk_every_review_once(session: Session) -> None:
    product = f.product(session)
    made = []
    for i in range(7):
        clock = FrozenClock(T0 + timedelta(minutes=i // 2))  # ties on created_at
        made.append(
            paykit.create_review(
                session,
                actor=_actor(session),
                product_id=product.id,
                rating=3,
                content="ok",
                clock=clock,
            ).id
        )
    seen: list[str] = []
    cursor = None
    while True:
        page = paykit.list_reviews(session, product_id=product.id, limit=3, cursor=cursor)
        seen += [r.id for r in page.items]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert sorted(seen) == sorted(made)
    assert len(seen) == 7
    other = f.product(session)
    first = paykit.list_reviews(session, product_id=product.id, limit=3)
    with pytest.raises(ValidationError) as caught:
        paykit.list_reviews(session, product_id=other.id, cursor=first.next_cursor)
    assert caught.value.code == "invalid_cursor"
    with pytest.raises(ValidationError) as caught:
        paykit.list_reviews(session, product_id=product.id, limit=0)
    assert caught.value.code == "invalid_limit"


def test_helpful_votes_count_once_per_user_and_never_for_oneself(session: Session) -> None:
    alice, bob, carol = _actor(session), _actor(session), _actor(session)
    review = _review(session, alice, f.product(session))
    with pytest.raises(PermissionDenied) as caught:
        paykit.vote_review_helpful(session, actor=alice, review_id=review.id, clock=CLOCK)
    assert caught.value.code == "own_review"
    assert paykit.vote_review_helpful(session, actor=bob, review_id=review.id, clock=CLOCK) == (
        paykit.VoteResult(helpful=1, counted=True)
    )
    again = paykit.vote_review_helpful(session, actor=bob, review_id=review.id, clock=CLOCK)
    assert again == paykit.VoteResult(helpful=1, counted=False)
    third = paykit.vote_review_helpful(session, actor=carol, review_id=review.id, clock=CLOCK)
    assert third == paykit.VoteResult(helpful=2, counted=True)
    assert paykit.get_review(session, review_id=review.id).helpful == 2
    votes = session.scalar(sa.select(sa.func.count()).where(m.ReviewVote.review_id == review.id))
    assert votes == 2


def test_parallel_votes_each_count_once(db_factory) -> None:  # type: ignore[no-untyped-def]
    engine = db_factory.migrated()
    with Session(engine, expire_on_commit=False) as session, session.begin():
        author = Actor.of(f.user(session))
        voters = [Actor.of(f.user(session)) for _ in range(6)]
        review = _review(session, author, f.product(session))
    barrier = threading.Barrier(12)

    def vote(actor: Actor) -> bool:
        barrier.wait(timeout=30)
        with Session(engine) as session, session.begin():
            return paykit.vote_review_helpful(
                session, actor=actor, review_id=review.id, clock=CLOCK
            ).counted

    with ThreadPoolExecutor(12) as pool:
        counted = list(pool.map(vote, voters + voters))  # every voter twice, at once
    assert sum(counted) == 6
    with Session(engine) as session:
        row = session.get(m.ProductReview, review.id)
        assert row is not None
        assert row.helpful == 6
