"""The catalog read side: product listings and pages, the category tree, admin views,
and the seed's section 3.2 example queries (see docs/catalog.md).

* :mod:`.products`: ``list_products``, ``get_product``, ``list_products_admin``,
  ``low_stock_report``
* :mod:`.categories`: ``create_category``, ``rename_category``,
  ``move_category``, ``category_tree``
* :mod:`.queries`: ``revenue``, ``monthly_revenue``, ``user_subscriptions``
* :mod:`.out`: the pydantic output models
"""

from paykit.services.catalog import out
from paykit.services.catalog.categories import (
    category_tree,
    create_category,
    move_category,
    rename_category,
)
from paykit.services.catalog.out import *  # noqa: F403  (the output models)
from paykit.services.catalog.products import (
    SORTS,
    get_product,
    list_products,
    list_products_admin,
    low_stock_report,
)
from paykit.services.catalog.queries import monthly_revenue, revenue, user_subscriptions

__all__ = [
    "SORTS",
    "category_tree",
    "create_category",
    "get_product",
    "list_products",
    "list_products_admin",
    "low_stock_report",
    "monthly_revenue",
    "move_category",
    "rename_category",
    "revenue",
    "user_subscriptions",
]
__all__ += out.__all__
