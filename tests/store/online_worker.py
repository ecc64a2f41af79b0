"""Helper process of test_online.py: hammer a shared Redis budget and cap from several threads.

Usage: python online_worker.py URL PREFIX N_THREADS ATTEMPTS; prints {"consumed": n, "capped": n}.
"""

from __future__ import annotations

import json
import sys
import threading

from campaignrec.store.online import RedisOnlineState


def main() -> None:
    url, prefix, n_threads, attempts = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    state = RedisOnlineState(url, prefix=prefix)
    consumed = [0] * n_threads
    capped = [0] * n_threads

    def work(i: int) -> None:
        for _ in range(attempts):
            consumed[i] += state.try_consume("budget", 1)
            capped[i] += state.incr_capped("cap", 333, 600)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    state.close()
    print(json.dumps({"consumed": sum(consumed), "capped": sum(capped)}))


if __name__ == "__main__":
    main()
