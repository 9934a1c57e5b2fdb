"""/v1/stats names the models (name@version) behind the selected results, with their rows per
modality, and says which modalities mix several, as `emolens report` warns. The real app
serving two real models (`default` and `ngram`, chosen per request) stores into a real SQLite
file."""

from __future__ import annotations

import pytest

pytest.importorskip("fastapi", reason="needs the server extra: pip install 'emolens[server]'")

from fastapi.testclient import TestClient  # noqa: E402

from emolens.labels import CANONICAL  # noqa: E402
from emolens.server import ServerSettings, create_app  # noqa: E402
from emolens.store import ResultStore  # noqa: E402
from emolens.types import EmotionResult  # noqa: E402

pytestmark = pytest.mark.usefixtures("isolated_settings")

POSTS = ["I am so happy today, best day ever!", "This makes me furious, worst service ever",
         "今天真开心[哈哈]", "我好害怕明天的考试", "meh, it was fine I guess"]


def analyze(client: TestClient, texts: list[str], model: str, group: str) -> str:
    """Store ``texts`` as read by the served ``model``; the id it stores them under."""
    r = client.post("/v1/analyze/text", json={"texts": texts, "model": model, "store": True,
                                              "group": group})
    assert r.status_code == 200, r.text
    assert r.json()["stored"] == len(texts)
    return r.json()["model"]


def test_stats_name_the_models_behind_the_charts(tmp_path):
    db = str(tmp_path / "mixed.db")
    settings = ServerSettings(db=db, auth=False, rate_limit=0, model="default",
                              extra_models=["ngram"])
    with TestClient(create_app(settings)) as client:
        cascade = analyze(client, POSTS, "default", "a")
        ngram = analyze(client, POSTS, "ngram", "a")
        analyze(client, ["so sad now", "what a surprise", "one more post"], "ngram", "b")
        # The two may share a name (ngram has stored as default@...): the version differs.
        assert cascade != ngram

        stats = client.get("/v1/stats").json()
        assert stats["total"] == 13
        assert stats["models"] == [
            {"model": ngram, "modality": "text", "rows": 8},
            {"model": cascade, "modality": "text", "rows": 5},
        ]
        assert stats["mixed"] == ["text"]

        # The filters narrow the models too: a group read by one model, or one model.
        one_group = client.get("/v1/stats", params={"group": "b"}).json()
        assert one_group["models"] == [{"model": ngram, "modality": "text", "rows": 3}]
        assert one_group["mixed"] == []
        one_model = client.get("/v1/stats", params={"model": cascade}).json()
        assert one_model["total"] == 5 and one_model["mixed"] == []
        assert one_model["models"] == [{"model": cascade, "modality": "text", "rows": 5}]
        assert sum(one_model["distribution"]["counts"]) == 5

        # Another modality has its own model by nature: listed, but not mixed with text.
        with ResultStore(db) as store:
            scores = {x: (0.7 if x == "anger" else 0.05) for x in CANONICAL}
            store.add([EmotionResult(label="anger", scores=scores, modality="speech",
                                     model="speech@1", text="segment", source_id="call.wav",
                                     item_key="call.wav:0", t_start=0.0, t_end=2.0)])
        with_speech = client.get("/v1/stats", params={"model": cascade}).json()
        assert with_speech["mixed"] == []  # the model filter leaves the speech row out
        everything = client.get("/v1/stats").json()
        assert everything["models"] == [  # modalities by name
            {"model": "speech@1", "modality": "speech", "rows": 1},
            {"model": ngram, "modality": "text", "rows": 8},
            {"model": cascade, "modality": "text", "rows": 5},
        ]
        assert everything["mixed"] == ["text"]
        speech = client.get("/v1/stats", params={"modality": "speech"}).json()
        assert speech["models"] == [{"model": "speech@1", "modality": "speech", "rows": 1}]
        assert speech["mixed"] == []

        empty = client.get("/v1/stats", params={"group": "nobody"}).json()
        assert empty["total"] == 0 and empty["models"] == [] and empty["mixed"] == []
