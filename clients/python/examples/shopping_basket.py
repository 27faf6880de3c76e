#!/usr/bin/env python3
"""Shopping basket: one expiring session per visitor; abandoned baskets clear themselves.

Each basket lives in a session that expires after a period of inactivity (adding an item extends
it). A customer who checks out reads the basket and ends the session; a window shopper's basket
simply expires. Run against a server: python shopping_basket.py --url ws://127.0.0.1:1987
"""

import argparse
import asyncio

import sessiondb


async def main(url: str, abandon_after: int) -> None:
    async with sessiondb.AsyncClient(url) as db:
        # A buying customer: 30 minutes of inactivity allowed, extended on every add.
        buyer = await db.sh_new(30 * 60, delete_session=True, extend_on_set_add=True,
                                name="visitor-buyer")
        # A window shopper whose basket is abandoned (a short expiry to show it here).
        browser = await db.sh_new(abandon_after, delete_session=True, name="visitor-browser")

        # Add items to both baskets concurrently: requests are pipelined on one connection.
        await asyncio.gather(
            db.sh_set(buyer, {"sku:kettle": {"qty": 1, "price": 24.99}}),
            db.sh_set(buyer, {"sku:mug": {"qty": 4, "price": 6.5}}),
            db.sh_set(browser, {"sku:sofa": {"qty": 1, "price": 899.0}}),
        )
        print("buyer's basket holds", await db.sh_count(buyer), "items")

        # Checkout: read the whole basket, then end the session.
        items = await db.sh_get(buyer, await db.sh_keys(buyer))
        total = sum(item["qty"] * item["price"] for item in items.values())
        print(f"checkout: {len(items)} lines, total {total:.2f}")
        await db.sh_end(buyer)

        # The window shopper leaves; after the expiry the basket is gone without any call.
        print(f"window shopper leaves; waiting {abandon_after} s for the basket to expire")
        await asyncio.sleep(abandon_after + 0.2)
        try:
            await db.sh_count(browser)
            raise SystemExit("the abandoned basket should have expired")
        except sessiondb.SessionDBError as e:
            print("abandoned basket:", e.status_name)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=sessiondb.DEFAULT_URL, help="server URL")
    parser.add_argument("--abandon-after", type=int, default=1,
                        help="expiry of the window shopper's basket, in seconds")
    args = parser.parse_args()
    asyncio.run(main(args.url, args.abandon_after))
