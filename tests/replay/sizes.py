"""`python -m tests.replay.sizes`: each stored history's events, its size as Temporal's JSON, and its
largest event, the figures the README quotes for histories before and after a patch."""

import json

from tests.replay.capture import HISTORIES, stored_history


def main() -> None:
    print(f"{'history':<58} {'events':>6} {'bytes':>10} {'largest event':>14}")
    for path in sorted(HISTORIES.glob("*.json.gz")):
        events = stored_history(path).to_json_dict()["events"]
        sizes = [len(json.dumps(event)) for event in events]
        name = path.name.removesuffix(".json.gz")
        print(f"{name:<58} {len(events):>6} {len(json.dumps({'events': events})):>10,} {max(sizes):>14,}")


if __name__ == "__main__":
    main()
