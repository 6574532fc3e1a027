"""Preview a notification template (模板预览) with the event catalogue's sample payload.

    python -m services.notify.preview KIND [--lang en] [--channel sms] [--event EVENT_TYPE]

Without ``--event`` the first event type subscribed to KIND is used. For SMS the number of
parts a gateway would bill is printed, counting the configured signature.
"""
from __future__ import annotations

import argparse
import sys

from services.common import events
from services.common.config import Policy
from services.notify.messages import CHANNELS, Subscriptions, render, sample_context, sms_segments


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.notify.preview",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("kind")
    parser.add_argument("--lang", default=None, help="zh-CN (default) or en")
    parser.add_argument("--channel", default="in_app", choices=CHANNELS)
    parser.add_argument("--event", default=None, help="event type for the sample payload")
    parser.add_argument("--config", default=None, help="notify.yaml (default: infra/config)")
    parser.add_argument("--policy", default=None, help="policy.yaml (default: infra/config)")
    args = parser.parse_args(argv)

    subs = Subscriptions.load(args.config)
    lang = args.lang or subs.settings.default_language
    subscribed = subs.events_for(args.kind)
    if args.event is None and not subscribed:
        parser.error(f"no subscription uses kind {args.kind!r}; known: "
                     f"{', '.join(sorted(subs.kinds()))}")
    event_type = args.event or subscribed[0]
    if event_type not in events.CATALOGUE:
        parser.error(f"unknown event type {event_type!r}")

    payload = events.sample_payload(event_type)
    context = sample_context(subs, args.kind, payload, lang, Policy.load(args.policy).data)
    message = render(args.kind, lang, args.channel, context, sms=subs.settings.sms)

    print(f"# {args.kind} / {lang} / {args.channel} / sample {event_type}")
    if message.subject is not None:
        print(f"Subject: {message.subject}\n")
    print(message.text)
    if message.html is not None:
        print("\n--- html ---")
        print(message.html)
    if args.channel == "sms":
        parts = sms_segments(message.text, subs.settings.sms.signature)
        print(f"\n--- {len(parts)} SMS part(s), {sum(map(len, parts))} characters "
              f"incl. signature {subs.settings.sms.signature!r} ---")
    return 0


if __name__ == "__main__":
    sys.exit(main())
