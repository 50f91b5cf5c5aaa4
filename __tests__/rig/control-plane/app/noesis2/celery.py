# A real Celery app, with its broker where the pod's environment says (REDIS_URL, from the Deployment's Secret),
# configured as the README recommends for deploys (acknowledged late, rejected when the worker is lost, a time
# limit within the grace period, one task prefetched, a visibility timeout longer than any task): the
# task-safety check finds nothing to report in it. Tests that want other settings bring an app of their own.
import os

from celery import Celery

app = Celery('noesis2', broker=os.environ.get('CELERY_BROKER_URL') or os.environ.get('REDIS_URL'))
app.conf.update(
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    task_time_limit=60,
    worker_prefetch_multiplier=1,
    broker_transport_options={'visibility_timeout': 7200},
)


@app.task(name='noesis2.rag_delete')
def rag_delete(document_id):
    return document_id


@app.task(name='noesis2.send_digest')
def send_digest():
    return None
