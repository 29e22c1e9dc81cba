"""The load generator: N customer WebSockets talking to a hub (or the echo server).

Runs in its own process (the benchmarks start it), prints progress to stderr and one JSON
result line to stdout:

    python -m bench.load_client --url ws://127.0.0.1:8001/ws/chat/ --clients 100 \
        --rate 500 --duration 10

Each client says hello and sends one warm-up message; once every client has, the window
opens: each sends a message, waits for its acknowledgement and the bot's reply, and sends the
next at its share of `--rate` (0 = as fast as the replies come). Latencies: send → ack, send →
first bot message, also by the turn's place in its chat (turns 1-10, 11-20, …: what a turn
costs as the chat grows), and per second of the window how many replies were slow. Every
`--turns-per-chat` messages a socket starts a new chat, each socket at its own point of that
cycle. `--idle` only opens the sockets and holds them (capacity benchmark).

Sockets open at `--connect-rate` per second with at most `--max-opening` handshakes in flight,
as visitors arrive at a site: firing thousands of handshakes at once would measure the
server's handshake timeout (Daphne drops a handshake it cannot finish in 5 s), not its
capacity.
"""

import argparse
import asyncio
import json
import random
import sys
import time

from websockets.asyncio.client import connect

PHRASES = [
    "hello",
    "what are your opening hours",
    "how long does shipping take",
    "thanks",
    "how do I return something",
    "are you a bot",
]
SLOW_MS = 50  # a reply slower than this counts as slow in the per-second timeline


class Stats:
    def __init__(self) -> None:
        self.ack_ms: list[float] = []
        self.reply_ms: list[float] = []
        # Reply latencies by the turn's place in its chat, in tens (0: turns 1-10).
        self.reply_ms_by_turn: dict[int, list[float]] = {}
        # (seconds into the window the message was sent, its reply latency)
        self.timeline: list[tuple[float, float]] = []
        self.errors = 0
        self.connected = 0
        self.warmed = 0
        self.last_connected_at = 0.0


def percentile(values: list[float], fraction: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


async def _exchange(ws, text: str, client_id: str) -> tuple[float, float]:
    """Send one message; wait for its ack and the bot's first reply after it (by seq)."""
    started = time.perf_counter()
    await ws.send(json.dumps({"type": "message", "client_id": client_id, "text": text}))
    ack_seq = ack_at = reply_at = None
    bot_seen: list[tuple[int, float]] = []
    while reply_at is None:
        frame = json.loads(await ws.recv())
        kind = frame.get("type")
        if kind == "ack" and frame.get("client_id") == client_id:
            ack_seq, ack_at = frame["seq"], time.perf_counter()
        elif kind == "message" and frame.get("sender") == "bot":
            bot_seen.append((frame["seq"], time.perf_counter()))
        elif kind == "error":
            raise RuntimeError(f"error frame: {frame}")
        if ack_seq is not None:
            later = [at for seq, at in bot_seen if seq > ack_seq]
            reply_at = later[0] if later else None
    return (ack_at - started) * 1000, (reply_at - started) * 1000


async def _hello(ws) -> None:
    await ws.send(json.dumps({"type": "hello"}))
    while json.loads(await ws.recv()).get("type") != "welcome":
        pass


class Window:
    """The measuring window: opens once every socket is connected and has had its first
    turn (so a connection storm is not mistaken for steady state), then lasts --duration."""

    def __init__(self) -> None:
        self.opened = asyncio.Event()
        self.start_at = self.stop_at = float("inf")

    def open(self, duration: float) -> None:
        self.start_at = time.perf_counter()
        self.stop_at = self.start_at + duration
        self.opened.set()


async def _open(args, opening: asyncio.Semaphore):
    origin = args.url.replace("ws://", "http://").split("/ws/")[0]
    async with opening:
        ws = await connect(args.url, origin=origin, open_timeout=120, ping_interval=None)
        try:
            await _hello(ws)
        except BaseException:
            await ws.close()
            raise
    return ws


async def customer(number: int, args, stats: Stats, window: Window, opening) -> None:
    """One customer socket; every `--turns-per-chat` messages it starts a new chat."""
    interval = args.clients / args.rate if args.rate else 0.0
    async with await _open(args, opening) as ws:
        stats.connected += 1
        stats.last_connected_at = time.perf_counter()
        if not args.idle:
            await _exchange(ws, "hello", f"warm-{number}")
        stats.warmed += 1
        await window.opened.wait()
        if args.idle:
            await asyncio.sleep(max(0.0, window.stop_at - time.perf_counter()))
            return
        # Spread the clients' sends evenly over one interval, and their chats' starts over a
        # chat's length: visitors do not all start a chat in the same 200 ms every 10 turns.
        next_send = window.start_at + random.random() * interval
        sent = 1 + random.randrange(args.turns_per_chat) if args.turns_per_chat else 1
        turn_in_chat = 1  # the warm-up was the chat's first turn
        while True:
            await asyncio.sleep(max(0.0, next_send - time.perf_counter()))
            if time.perf_counter() >= window.stop_at:
                return
            if args.turns_per_chat and sent % args.turns_per_chat == 0:
                await _hello(ws)  # a new chat on the same socket, as after "end"
                turn_in_chat = 0
            turn_in_chat += 1
            sent_at = time.perf_counter() - window.start_at
            try:
                ack_ms, reply_ms = await _exchange(ws, random.choice(PHRASES), f"m-{number}-{sent}")
            except RuntimeError:
                stats.errors += 1
                continue
            finally:
                sent += 1
            if time.perf_counter() < window.stop_at:
                stats.ack_ms.append(ack_ms)
                stats.reply_ms.append(reply_ms)
                stats.reply_ms_by_turn.setdefault((turn_in_chat - 1) // 10, []).append(reply_ms)
                stats.timeline.append((sent_at, reply_ms))
            next_send = max(next_send + interval, time.perf_counter() if not interval else 0)


async def progress(stats: Stats, window: Window) -> None:
    started = time.perf_counter()
    while True:
        await asyncio.sleep(1.0)
        now = time.perf_counter()
        clock = now - window.start_at if window.opened.is_set() else now - started
        phase = "measuring" if window.opened.is_set() else "warming up"
        p99 = percentile(stats.reply_ms[-2000:], 0.99)
        print(
            f"  {phase} t={clock:5.1f}s connected={stats.connected} warmed={stats.warmed}"
            f" replies={len(stats.reply_ms)} p99(recent)={p99 and round(p99, 1)} ms"
            f" errors={stats.errors}",
            file=sys.stderr,
            flush=True,
        )


async def run(args) -> dict:
    stats = Stats()
    window = Window()
    reporter = asyncio.create_task(progress(stats, window))
    tasks = []
    opening = asyncio.Semaphore(args.max_opening)
    started = time.perf_counter()
    # Connect in batches so the server's accept queue is not the thing being measured.
    for number in range(args.clients):
        tasks.append(asyncio.create_task(customer(number, args, stats, window, opening)))
        if number % 50 == 49:
            await asyncio.sleep(50 / args.connect_rate)
    deadline = started + args.warmup_timeout
    while stats.warmed < args.clients and time.perf_counter() < deadline:
        await asyncio.sleep(0.05)
    warmup_seconds = time.perf_counter() - started
    await asyncio.sleep(args.warmup)
    window.open(args.duration)
    await asyncio.sleep(args.duration)
    measured = len(stats.reply_ms)
    connected = stats.connected
    for task in [*tasks, reporter]:
        task.cancel()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    failures = [repr(r) for r in results if isinstance(r, BaseException) and not _is_cancel(r)]
    return {
        "clients": args.clients,
        "connected": connected,
        "warmed_up": stats.warmed,
        "connect_and_first_turn_s": round(warmup_seconds, 2),
        "connects_per_s": round(connected / max(1e-9, stats.last_connected_at - started), 1),
        "offered_rate": args.rate,
        "turns_per_chat": args.turns_per_chat,
        "duration_s": args.duration,
        "messages_per_s": round(measured / args.duration, 1),
        "ack_p50_ms": _round(percentile(stats.ack_ms, 0.5)),
        "ack_p99_ms": _round(percentile(stats.ack_ms, 0.99)),
        "reply_p50_ms": _round(percentile(stats.reply_ms, 0.5)),
        "reply_p99_ms": _round(percentile(stats.reply_ms, 0.99)),
        "reply_by_turn_in_chat": {
            f"{10 * tens + 1}-{10 * tens + 10}": {
                "replies": len(values),
                "p50_ms": _round(percentile(values, 0.5)),
                "p99_ms": _round(percentile(values, 0.99)),
            }
            for tens, values in sorted(stats.reply_ms_by_turn.items())
        },
        "slow_replies_by_second": _slow_by_second(stats.timeline, args.duration),
        "errors": stats.errors,
        "failed_clients": len(failures),
        "first_failure": failures[0] if failures else None,
    }


def _slow_by_second(timeline: list[tuple[float, float]], duration: float) -> list[dict]:
    """Per second of the window: replies, those slower than SLOW_MS, the slowest — tells a
    few bursts (a pause somewhere) from steady queueing (too little capacity)."""
    seconds = [{"replies": 0, "slow": 0, "max_ms": 0.0} for _ in range(max(1, int(duration)))]
    for sent_at, reply_ms in timeline:
        second = seconds[min(len(seconds) - 1, max(0, int(sent_at)))]
        second["replies"] += 1
        second["slow"] += reply_ms > SLOW_MS
        second["max_ms"] = max(second["max_ms"], round(reply_ms, 1))
    return seconds


def _is_cancel(error: BaseException) -> bool:
    return isinstance(error, asyncio.CancelledError)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--rate", type=float, default=0, help="messages/s in all; 0 = max")
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument("--warmup", type=float, default=1, help="s after all are warmed up")
    parser.add_argument("--warmup-timeout", type=float, default=180)
    parser.add_argument("--connect-rate", type=float, default=1000, help="new sockets per s")
    parser.add_argument("--max-opening", type=int, default=100, help="handshakes in flight")
    parser.add_argument("--idle", action="store_true")
    parser.add_argument("--turns-per-chat", type=int, default=10, help="0 = one endless chat")
    return parser.parse_args(argv)


def main() -> None:
    args = parse_args(sys.argv[1:])
    result = asyncio.run(run(args))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
