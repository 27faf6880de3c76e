#!/usr/bin/env python3
"""Pizza delivery: one session per pizza out for delivery, ended once it is delivered.

Each pizza's session holds its driver, position and estimated arrival while it is on the road;
ending the session deletes all of it. The alternative layout, one session per driver with a key
per pizza, is shown second. Run against a server: python pizza_delivery.py --url ws://127.0.0.1:1987
"""

import argparse

import sessiondb


def per_pizza(db: sessiondb.Client) -> None:
    # A pizza should never be on the road for more than two hours; if the app forgets to end
    # its session, the server deletes it anyway.
    orders = {"order-1001": "Margherita", "order-1002": "Diavola"}
    sessions = {}
    for order, pizza in orders.items():
        tkn = db.sh_new(2 * 3600, delete_session=True, name=order)
        db.sh_set(tkn, {"pizza": pizza, "driver": "Sam", "position": [51.5072, -0.1276],
                        "eta_minutes": 25})
        sessions[order] = tkn
        print(f"{order}: {pizza} out for delivery, session {tkn}")

    # The driver moves: update the session data.
    tkn = sessions["order-1001"]
    db.sh_set(tkn, {"position": [51.5101, -0.1340], "eta_minutes": 12})
    print("order-1001 now:", db.sh_get(tkn, ["position", "eta_minutes"]))

    # Delivered: end the session, which deletes its data.
    for order, tkn in sessions.items():
        db.sh_end(tkn)
        print(f"{order}: delivered, session ended")
    assert db.sh_exists(list(sessions.values())) == []


def per_driver(db: sessiondb.Client) -> None:
    shift = db.sh_new(name="driver-sam")
    db.sh_set(shift, {"order-2001": {"pizza": "Funghi", "eta_minutes": 10},
                      "order-2002": {"pizza": "Hawaii", "eta_minutes": 30}})
    print("driver-sam carries", sorted(db.sh_keys(shift)))
    db.sh_rmv(shift, ["order-2001"])
    print("order-2001 delivered; still to deliver:", sorted(db.sh_keys(shift)))
    db.sh_end(shift)
    print("driver-sam's shift is over, session ended")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=sessiondb.DEFAULT_URL, help="server URL")
    args = parser.parse_args()
    with sessiondb.Client(args.url) as db:
        per_pizza(db)
        per_driver(db)


if __name__ == "__main__":
    main()
