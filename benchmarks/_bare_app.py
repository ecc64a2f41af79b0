"""The ceiling for benchmarks/serve.py: a bare FastAPI endpoint returning a fixed JSON list.

Same framework, server and worker count as the service, no work: what is left is the cost of
HTTP, uvicorn and FastAPI themselves on this machine.
"""

from __future__ import annotations

from fastapi import FastAPI

app = FastAPI()
ITEMS = [
    {"item_id": f"i{n:04d}", "score": 1.0 - n / 10, "reason": "popular", "text": "Popular."}
    for n in range(10)
]


@app.get("/v1/users/{user_id}/recommendations")
def recommendations(user_id: str) -> dict[str, object]:
    return {"user_id": user_id, "items": ITEMS, "model_version": "bare"}
