# The image's code in the rig's pods: the stand-in of the NOESIS 2 Django project's package, reduced to what the
# worker's Celery app needs (no Django). `celery -A noesis2` finds the app here, as a Django project exposes it.
from .celery import app

__all__ = ('app',)
