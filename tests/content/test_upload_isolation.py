"""A large pathological upload does not hold up the site's other requests (issue 6, defect 1:
one 40 kB upload froze /healthz for 53 s). The site runs as `strata run` serves it (gunicorn,
several worker processes); parsing and chunking are linear, so the 4 MiB worst case takes
seconds in one worker while the others keep answering."""

from __future__ import annotations

import threading
import time
import urllib.request

import pytest

from content import services, stores
from content.models import Document
from core import services as core_services
from tests.content.test_linear_time import TEXT_CASES
from tests.live_site import Browser, Gunicorn

pytestmark = pytest.mark.django_db(transaction=True)


def test_healthz_answers_while_a_4_mib_worst_case_upload_is_parsed(tmp_path, django_user_model):
    user = django_user_model.objects.create_user(username="uma", password="pw-uma-123")
    workspace = core_services.workspace_create(name="Upload lab", owner=user)
    server = Gunicorn(tmp_path / "gunicorn.log", workers=2)
    try:
        browser = Browser(server.base)
        browser.log_in("uma", "pw-uma-123")
        # just under the 4 MiB document limit (its JSON body has the title too): 1.4 million sentences
        worst = TEXT_CASES["many short sentences"].encode()[: 4 * 1024 * 1024 - 4096]
        result: dict[str, object] = {}

        def upload() -> None:
            started = time.monotonic()
            result["page"] = browser.upload("/content/", {"worst.txt": worst}, timeout=300)
            result["seconds"] = time.monotonic() - started

        thread = threading.Thread(target=upload)
        thread.start()
        waits = []
        while thread.is_alive():
            started = time.monotonic()
            with urllib.request.urlopen(f"{server.base}/healthz", timeout=30) as response:
                assert response.status == 200
            waits.append(time.monotonic() - started)
            time.sleep(0.05)
        thread.join()
        assert result["page"].status == 200 and "1 added" in result["page"].text, result["page"].text[-3000:]
        assert len(waits) >= 3, f"the upload took only {result['seconds']:.1f} s"
        assert max(waits) < 1.0, f"/healthz waited {max(waits):.2f} s during a {result['seconds']:.1f} s upload"
        assert Document.objects.get(workspace=workspace).char_count == len(worst.decode().strip())
    finally:
        server.stop()
        for document_id in Document.objects.filter(workspace=workspace).values_list("id", flat=True):
            services.document_delete(workspace_id=workspace.pk, document_id=document_id)
        for collection in stores.vectors().list_collections():
            if collection.name.startswith(f"content.ws{workspace.pk}."):
                stores.vectors().drop_collection(collection.name)
