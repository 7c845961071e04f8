# The Strata application image (web, worker and beat run from it; see docker-compose.yml).
FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 STRATA_EMBEDDED_AUTOSTART=0
WORKDIR /app
COPY pyproject.toml README.md ./
COPY core core
COPY content content
COPY knowledge knowledge
COPY agents agents
COPY manage.py ./
RUN pip install --no-cache-dir ".[server,dedicated]" \
    && DJANGO_SECRET_KEY=build-only DATABASE_URL=postgres://build@localhost/build REDIS_URL=redis://localhost:6379/0 \
       python manage.py collectstatic --noinput
RUN useradd --create-home strata
USER strata
EXPOSE 8000
CMD ["gunicorn", "core.wsgi", "--bind", "0.0.0.0:8000", "--workers", "3"]
