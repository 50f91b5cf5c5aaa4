import os

from celery import Celery

app = Celery("noesis2", broker=os.environ["REDIS_URL"], backend=None)
app.conf.beat_schedule = {"heartbeat": {"task": "noesis2.celery.heartbeat", "schedule": 60.0}}


@app.task
def heartbeat():
    return "ok"
