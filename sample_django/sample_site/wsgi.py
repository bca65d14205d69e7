"""The WSGI entry point mod_wsgi loads (apache_modwsgi_wsgi_script)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sample_site.settings")

application = get_wsgi_application()
