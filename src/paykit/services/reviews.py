"""Product reviews: write, edit, delete, moderate, vote "helpful", list and summarize.

Rules (docs/catalog.md, "Reviews"):

* One review per user and product (the database's unique constraint decides
  under parallel writes: the loser gets ``review_exists``).
* ``verified`` is set by paykit, never by the caller: it is true when the
  author has a COMPLETED order containing the product that is not fully
  refunded. It is computed when the review is written and again on every edit.
* The author edits and deletes their own review; another user's review is
  ``NotFound`` (ids are not confirmed). Staff (``Action.MODERATE_REVIEWS``)
  hide, show again and delete any review, with an audit row.
* A hidden review is left out of listings and summaries for everyone but staff;
  its author still sees it through :func:`get_review`.
* A helpful vote is one row per user and review (``paykit_review_votes``) and
  the review's ``helpful`` counter moves in the same transaction by a single
  ``UPDATE ... SET helpful = helpful + 1``; a second vote by the same user
  changes nothing. Nobody votes for their own review.
* Ratings and averages: the average is a ``Decimal`` rounded half-up to two
  places over visible reviews.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

import pydantic
import sqlalchemy as sa
from sqlalchemy.orm import Session

from paykit._arguments import checked
from paykit.clock import Clock, resolve_clock
from paykit.context import RequestContext
from paykit.errors import Conflict, PermissionDenied, ValidationError
from paykit.models import (
    Order,
    OrderItem,
    OrderStatus,
    Product,
    ProductReview,
    ProductStatus,
    ReviewVote,
    User,
)
from paykit.security.policy import Action, Actor, allows
from paykit.security.rls import system_scope
from paykit.services._audit import Audit
from paykit.services._inputs import text_field
from paykit.services._rows import found, insert_or, load
from paykit.services._sql import savepoint
from paykit.services.reads import Page, active_actor, check_page_limit, newest_first

__all__ = [
    "MAX_REVIEW_CHARS",
    "RatingSummary",
    "ReviewOut",
    "VoteResult",
    "create_review",
    "delete_review",
    "edit_review",
    "get_review",
    "hide_review",
    "list_reviews",
    "rating_summary",
    "vote_review_helpful",
]

#: The longest review text accepted (the title is at most 200 characters).
MAX_REVIEW_CHARS = 10_000
_MAX_TITLE = 200
_CENT = Decimal("0.01")


class ReviewOut(pydantic.BaseModel):
    """A review as a storefront shows it (no e-mail or name of the author)."""

    model_config = pydantic.ConfigDict(frozen=True, from_attributes=True)

    id: str
    product_id: str
    user_id: str
    rating: int
    title: str | None
    content: str
    verified: bool
    helpful: int
    hidden: bool
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class RatingSummary:
    """Visible reviews of a product: how many, their average, and how many per star."""

    count: int
    average: Decimal | None
    distribution: dict[int, int]


@dataclass(frozen=True, slots=True)
class VoteResult:
    """The review's helpful count after a vote, and whether this vote was counted."""

    helpful: int
    counted: bool


def _out(review: ProductReview) -> ReviewOut:
    return ReviewOut(
        id=review.id,
        product_id=review.product_id,
        user_id=review.user_id,
        rating=review.rating,
        title=review.title,
        content=review.content,
        verified=review.verified,
        helpful=review.helpful,
        hidden=review.hidden_at is not None,
        created_at=review.created_at,
        updated_at=review.updated_at,
    )


def _author(session: Session, actor: Actor) -> User:
    return active_actor(session, actor, refusal="reviews need an active, authenticated user")


def _rating(rating: int) -> int:
    if not 1 <= rating <= 5:
        raise ValidationError(
            "rating must be a whole number of stars from 1 to 5",
            code="invalid_rating",
            details={"field": "rating"},
        )
    return rating


def _verified(session: Session, user_id: str, product_id: str) -> bool:
    """Whether the user bought the product in a completed, not fully refunded order."""
    bought = (
        sa.select(OrderItem.id)
        .join(Order, Order.id == OrderItem.order_id)
        .where(
            Order.user_id == user_id,
            OrderItem.product_id == product_id,
            Order.status == OrderStatus.COMPLETED,
            Order.refunded_amount < Order.total_amount,
        )
        .limit(1)
    )
    return session.execute(bought).first() is not None


def _review_for(session: Session, user: User, review_id: str, *, staff: bool) -> ProductReview:
    return load(
        session,
        ProductReview,
        review_id,
        "review",
        visible=lambda review: review.user_id == user.id or (staff and _staff(user)),
        with_for_update=True,
    )


def _staff(reader: User | None) -> bool:
    return reader is not None and allows(reader.role, Action.MODERATE_REVIEWS)


@checked
def create_review(
    session: Session,
    *,
    actor: Actor,
    product_id: str,
    rating: int,
    content: str,
    title: str | None = None,
    clock: Clock | None = None,
    context: RequestContext | None = None,
) -> ReviewOut:
    """Write the acting user's review of a published product (one per user and product).

    ``verified`` is computed (see the module). A second review of the same
    product by the same user is ``Conflict`` with code ``review_exists``.
    """
    now = resolve_clock(clock).now()
    user = _author(session, actor)
    product = load(
        session,
        Product,
        product_id,
        "product",
        visible=lambda row: row.status is ProductStatus.PUBLISHED and not row.deleted_at,
    )
    review = ProductReview(
        product_id=product.id,
        user_id=user.id,
        rating=_rating(rating),
        title=None if title is None else text_field(title, "title", _MAX_TITLE),
        content=text_field(content, "content", MAX_REVIEW_CHARS),
        verified=_verified(session, user.id, product.id),
        helpful=0,
        created_at=now,
        updated_at=now,
    )
    taken = Conflict(
        "you have already reviewed this product",
        code="review_exists",
        details={"product_id": product.id},
    )
    insert_or(session, review, taken)
    Audit(session, now, user.id, context).record(
        "review.created",
        "product_reviews",
        review.id,
        new={"product_id": product.id, "rating": review.rating, "verified": review.verified},
    )
    return _out(review)


@checked
def edit_review(
    session: Session,
    *,
    actor: Actor,
    review_id: str,
    rating: int | None = None,
    content: str | None = None,
    title: str | None = None,
    clock: Clock | None = None,
    context: RequestContext | None = None,
) -> ReviewOut:
    """Change the author's own review; ``None`` leaves a field as it is, ``title=""``
    removes the title.

    Only the author may edit (anyone else gets ``NotFound``); ``verified`` is
    recomputed, so a refunded purchase no longer verifies the review.
    """
    now = resolve_clock(clock).now()
    user = _author(session, actor)
    review = _review_for(session, user, review_id, staff=False)
    old = {"rating": review.rating, "verified": review.verified}
    if rating is not None:
        review.rating = _rating(rating)
    if content is not None:
        review.content = text_field(content, "content", MAX_REVIEW_CHARS)
    if title is not None:
        review.title = text_field(title, "title", _MAX_TITLE) if title.strip() else None
    review.verified = _verified(session, user.id, review.product_id)
    review.updated_at = now
    new = {"rating": review.rating, "verified": review.verified}
    audit = Audit(session, now, user.id, context)
    audit.record("review.edited", "product_reviews", review.id, old=old, new=new)
    return _out(review)


@checked
def delete_review(
    session: Session,
    *,
    actor: Actor,
    review_id: str,
    clock: Clock | None = None,
    context: RequestContext | None = None,
) -> None:
    """Delete a review: the author their own, staff any (moderation). Votes go with it."""
    now = resolve_clock(clock).now()
    user = _author(session, actor)
    review = _review_for(session, user, review_id, staff=True)
    old = {"product_id": review.product_id, "user_id": review.user_id, "rating": review.rating}
    Audit(session, now, user.id, context).record(
        "review.deleted", "product_reviews", review.id, old=old
    )
    session.execute(sa.delete(ProductReview).where(ProductReview.id == review.id))
    session.expunge(review)
    session.flush()


@checked
def hide_review(
    session: Session,
    *,
    actor: Actor,
    review_id: str,
    hidden: bool = True,
    reason: str | None = None,
    clock: Clock | None = None,
    context: RequestContext | None = None,
) -> ReviewOut:
    """Hide a review from the storefront (``hidden=False`` shows it again). Staff only."""
    now = resolve_clock(clock).now()
    user = _author(session, actor)
    if not _staff(user):
        raise PermissionDenied(
            "moderating reviews is for staff",
            details={"action": Action.MODERATE_REVIEWS.value, "actor_id": user.id},
        )
    note = None if reason is None else text_field(reason, "reason", 1000)
    review = _review_for(session, user, review_id, staff=True)
    was_hidden = review.hidden_at is not None
    if was_hidden != hidden:
        # The author's row: paykit writes the flag as SYSTEM (RLS lets staff
        # delete a review but never edit its words).
        with system_scope(session):
            review.hidden_at = now if hidden else None
            review.updated_at = now
            session.flush()
        Audit(session, now, user.id, context).record(
            "review.hidden" if hidden else "review.shown",
            "product_reviews",
            review.id,
            old={"hidden": was_hidden},
            new={"hidden": hidden, "reason": note},
        )
    return _out(review)


_INSERT_VOTE = sa.insert(ReviewVote)
_BUMP = (
    sa.update(ProductReview)
    .where(ProductReview.id == sa.bindparam("review_id"))
    .values(helpful=ProductReview.helpful + 1)
    .returning(ProductReview.helpful)
)


@checked
def vote_review_helpful(
    session: Session, *, actor: Actor, review_id: str, clock: Clock | None = None
) -> VoteResult:
    """Count the acting user's "helpful" vote once; a repeated vote changes nothing.

    Voting for one's own review is ``PermissionDenied`` (``own_review``); a
    hidden or unknown review is ``NotFound``. Parallel votes by one user count
    once (a unique constraint); parallel votes by many users all count (the
    counter is moved by one conditional ``UPDATE`` each).
    """
    now = resolve_clock(clock).now()
    user = _author(session, actor)
    review = load(
        session, ProductReview, review_id, "review", visible=lambda row: row.hidden_at is None
    )
    if review.user_id == user.id:
        raise PermissionDenied(
            "you cannot vote for your own review",
            code="own_review",
            details={"review_id": review_id},
        )
    try:
        with savepoint(session, "paykit_vote"):
            session.execute(
                _INSERT_VOTE, {"review_id": review.id, "user_id": user.id, "created_at": now}
            )
    except sa.exc.IntegrityError:
        session.refresh(review, ["helpful"])
        return VoteResult(helpful=review.helpful, counted=False)
    # The counter is the review author's row: paykit moves it as SYSTEM (RLS).
    with system_scope(session):
        helpful = session.execute(_BUMP, {"review_id": review.id}).scalar_one()
    session.expire(review, ["helpful"])
    return VoteResult(helpful=helpful, counted=True)


@checked
def get_review(session: Session, *, review_id: str, actor: Actor | None = None) -> ReviewOut:
    """One review: hidden ones only for their author and staff, otherwise ``NotFound``."""
    review = session.get(ProductReview, review_id)
    reader = None if actor is None else _author(session, actor)
    review = found(
        review,
        "review",
        review_id,
        visible=lambda row: (
            row.hidden_at is None
            or (reader is not None and reader.id == row.user_id)
            or _staff(reader)
        ),
    )
    return _out(review)


#: The one rule of which reviews customers see (and ratings and review counts count).
SHOWN_REVIEW = ProductReview.hidden_at.is_(None)


def _visible(product_id: str, staff: bool) -> list[sa.ColumnElement[bool]]:
    where = [ProductReview.product_id == product_id]
    if not staff:
        where.append(SHOWN_REVIEW)
    return where


@checked
def list_reviews(
    session: Session,
    *,
    product_id: str,
    actor: Actor | None = None,
    limit: int = 20,
    cursor: str | None = None,
) -> Page[ReviewOut]:
    """A product's reviews newest first, one keyset page at a time.

    Anyone (``actor=None`` for a visitor) sees the visible reviews; staff see
    hidden ones too. ``limit`` is 1..100 (``invalid_limit``); ``cursor`` is the
    previous page's ``next_cursor`` (``invalid_cursor`` when altered or made
    for another product).
    """
    check_page_limit(limit)
    reader = None if actor is None else _author(session, actor)
    staff = _staff(reader)
    scope = {"reviews": product_id, "staff": staff}
    query = sa.select(ProductReview).where(*_visible(product_id, staff))
    rows, next_cursor = newest_first(
        session, query, ProductReview, scope=scope, cursor=cursor, limit=limit
    )
    return Page[ReviewOut](items=[_out(r) for r in rows], next_cursor=next_cursor)


@checked
def rating_summary(session: Session, *, product_id: str) -> RatingSummary:
    """Count, average (two places, half-up) and per-star counts of visible reviews."""
    rows = session.execute(
        sa.select(ProductReview.rating, sa.func.count())
        .where(*_visible(product_id, staff=False))
        .group_by(ProductReview.rating)
    ).all()
    distribution = dict.fromkeys(range(1, 6), 0)
    for star, count in rows:
        distribution[int(star)] = int(count)
    return summary_of(distribution)


def summary_of(distribution: dict[int, int]) -> RatingSummary:
    """The summary of per-star counts (stars 1 to 5): the one rounding rule."""
    total = sum(distribution.values())
    if total == 0:
        return RatingSummary(count=0, average=None, distribution=distribution)
    stars = sum(star * count for star, count in distribution.items())
    average = (Decimal(stars) / Decimal(total)).quantize(_CENT, rounding=ROUND_HALF_UP)
    return RatingSummary(count=total, average=average, distribution=distribution)
