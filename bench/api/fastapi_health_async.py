"""The tuned FastAPI baseline: the same /health JSON as fastapi_health.py, written the way a FastAPI
user writes it (async def, no thread-pool hop per request), served by uvicorn with uvloop and
httptools (Debian's python3-uvloop and python3-httptools, which uvicorn picks up by itself)."""
from fastapi import FastAPI

app = FastAPI()


@app.get("/health")
async def health():
    return {"status": "ok", "database": "up", "firewall_helper": "up", "version": "2.3.0"}
