"""The baseline for the api benchmark: the original's stack (FastAPI + uvicorn, Debian's
python3-fastapi and python3-uvicorn) serving the same /health JSON, without any check behind it."""
from fastapi import FastAPI

app = FastAPI()


@app.get("/health")
def health():
    return {"status": "ok", "database": "up", "firewall_helper": "up", "version": "2.3.0"}
