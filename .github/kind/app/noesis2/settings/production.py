# DJANGO_SETTINGS_MODULE points here in the manifests; the test app needs no Django settings.
