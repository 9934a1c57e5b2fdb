"""Request and response bodies of the service, built on the library's ``EmotionResult``."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    model_validator,
)

from emolens.io.times import zone_name
from emolens.types import EmotionResult

Language = Literal["en", "zh"]


def _iso_only(value: Any) -> Any:
    """Refuse numbers (pydantic would read them as Unix times): the API speaks ISO 8601."""
    if isinstance(value, int | float) or (
        isinstance(value, str) and re.fullmatch(r"\s*[-+]?[\d.]+([eE][-+]?\d+)?\s*", value)
    ):
        raise ValueError("give an ISO 8601 time such as 2024-05-01 or 2024-05-01T12:00:00Z")
    return value


def _in_utc_range(value: datetime) -> datetime:
    """Refuse a time that has no UTC equivalent (0001-01-01T00:00+14:00): times go to UTC."""
    if value.tzinfo is not None:
        try:
            value.astimezone(UTC)
        except OverflowError:
            raise ValueError("the time is out of range once converted to UTC") from None
    return value


IsoTime = Annotated[datetime, BeforeValidator(_iso_only), AfterValidator(_in_utc_range)]


# An IANA zone name, stripped; an unknown one is refused naming the close names (422:
# InvalidInputError is a ValueError, which pydantic reports as a field error). 64 characters:
# the longest IANA name has 32, and a long string would only cost the search for close names.
ZoneName = Annotated[str, Field(max_length=64), AfterValidator(zone_name)]
ItemId = Annotated[str, Field(min_length=1, max_length=200)]


class AnalyzeRequest(BaseModel):
    """One text (``text``) or a batch (``texts``) to analyse, and whether to store the results."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "oneOf": [{"required": ["text"]}, {"required": ["texts"]}],
            "examples": [{"texts": ["I am thrilled", "气死我了，快递又丢了"], "store": True,
                          "source": "app"}],
        },
    )

    # Typed without None (a null is refused) but optional: exactly one of the two is given.
    text: str = Field(None, description="One text; give this or `texts`.")  # type: ignore[assignment]
    texts: list[str] = Field(  # type: ignore[assignment]
        None, min_length=1, description="Several texts, in order."
    )
    language: Language | None = Field(None, description="Force 'en' or 'zh' (else detected).")
    model: str | None = Field(None, description="One of the served models (GET /v1/models).")
    store: StrictBool = Field(False, description="Also keep the results in the store.")
    source: str | None = Field(None, max_length=200, description="Stored as the source.")
    group: str | None = Field(None, max_length=200, description="Stored as the group.")
    timestamp: IsoTime | None = Field(
        None, description="When the texts were written (ISO 8601); without an offset it is "
        "read in `source_tz` and stored in UTC."
    )
    source_tz: ZoneName | None = Field(
        None, description="IANA zone (e.g. Asia/Shanghai) of a `timestamp` written without an "
        "offset; default: the service's source_tz setting (UTC unless set)."
    )
    ids: list[ItemId] = Field(  # type: ignore[assignment]
        None, description="Your own id of each text, in order, one per text: stored as the "
        "result's item_id and part of the item's identity. Without ids, identical texts with "
        "the same source, group and timestamp are one item, stored once (so that a retry "
        "stores nothing twice); give ids to store each of them."
    )
    id: ItemId = Field(  # type: ignore[assignment]
        None, description="Your own id of the one `text` (as `ids` for `texts`)."
    )
    # On the WebSocket, ``id`` names the message (echoed back), not the item.
    _id_is_item: ClassVar[bool] = True

    @model_validator(mode="after")
    def _one_of_text_or_texts(self) -> AnalyzeRequest:
        if (self.text is None) == (self.texts is None):
            raise ValueError("give exactly one of 'text' (a string) or 'texts' (a list)")
        if self._id_is_item and self.id is not None and (self.texts is not None or self.ids):
            raise ValueError("'id' goes with 'text'; with 'texts', give 'ids' (one per text)")
        if self.ids is not None:
            if len(self.ids) != len(self.items()):
                raise ValueError(f"'ids' has {len(self.ids)} ids for {len(self.items())} "
                                 "texts; give one id per text, in order")
            seen: set[str] = set()
            for x in self.ids:
                if x in seen:
                    raise ValueError(f"'ids' gives {x!r} twice; give each text its own id")
                seen.add(x)
        return self

    def items(self) -> list[str]:
        """The texts of the request, in order."""
        return [self.text] if self.text is not None else list(self.texts or [])

    def item_ids(self) -> list[str | None]:
        """The client's id of each text, in order (None where none was given)."""
        if self.ids is not None:
            return list(self.ids)
        if self._id_is_item and self.id is not None:
            return [self.id]
        return [None] * len(self.items())


class StreamMessage(AnalyzeRequest):
    """One WebSocket message: an analysis request with an optional id echoed in the reply."""

    id: str | int | None = Field(None, description="Echoed back with the results (the "
                                 "message's id; the texts' own ids go in `ids`).")
    _id_is_item: ClassVar[bool] = False


class AnalyzeResponse(BaseModel):
    """Results, one per text, in the order given."""

    model: str = Field(description="name@version of the model that produced the results.")
    results: list[EmotionResult]
    stored: int = Field(0, description="Results newly stored (with `store`).")
    already_stored: int = Field(
        0, description="Results not stored again (with `store`): the same item (same text, "
        "source, group, timestamp and id) is in the store already, or earlier in the request."
    )


class AudioSummary(BaseModel):
    """One recording as a whole: its speech-time-weighted mean scores and their top label."""

    source: str
    duration: float = Field(description="Seconds of audio decoded.")
    segments: int = Field(description="Speech segments (utterances) found.")
    speech_seconds: float
    label: str | None = Field(description="Top label of the mean scores; None without speech.")
    scores: dict[str, float]
    valence: float | None = None
    arousal: float | None = None


class AudioAnalyzeResponse(BaseModel):
    """Every speech segment of an uploaded recording, in order, and their summary."""

    model: str = Field(description="The speech model: ASR, voice model and text model.")
    source: str = Field(description="What the segments are (or would be) stored under.")
    duration: float = Field(description="Seconds of audio decoded.")
    summary: AudioSummary
    segments: list[EmotionResult] = Field(
        description="One result per utterance: t_start/t_end in seconds, the transcript as "
        "text, fused scores, and in details what the voice and the words said on their own."
    )
    stored: int = Field(0, description="Segments newly stored (a repeated upload adds none).")


class Person(BaseModel):
    """One face track of a video (or one face of an image) and its mean expression."""

    person: int = Field(description="Track id (video) or face number left to right (image).")
    first_t: float
    last_t: float
    detections: int
    label: str
    scores: dict[str, float]


class VisualSummary(BaseModel):
    """An image or video as a whole: counts, people, and the time-weighted fused scores."""

    source: str
    duration: float = Field(description="Seconds of video sampled (0 for an image).")
    faces: int = Field(description="Face results (one per face per sampled frame).")
    people: list[Person]
    captions: int = Field(description="On-screen text events read.")
    speech_segments: int
    label: str | None = Field(description="Top label of the fused scores; None if nothing found.")
    scores: dict[str, float]
    notes: list[str]


class VisualAnalyzeResponse(BaseModel):
    """Faces, on-screen text, speech (video with audio served) and their fusion."""

    model: str = Field(description="The models: face expression, text and (video) speech.")
    source: str = Field(description="What the results are (or would be) stored under.")
    duration: float
    summary: VisualSummary
    faces: list[EmotionResult] = Field(
        description="One result per face (per sampled frame for a video): details hold its "
        "box [x0, y0, x1, y1] in pixels, detection score, and face number or track id."
    )
    captions: list[EmotionResult] = Field(
        description="On-screen text: its words as text, box and OCR score in details."
    )
    speech: list[EmotionResult] = Field(default_factory=list,
                                        description="Speech segments of a video's audio.")
    fused: list[EmotionResult] = Field(
        description="Everything pooled: one result for an image, one per window for a video."
    )
    notes: list[str] = Field(default_factory=list,
                             description="What was not analysed, or only in part, and why.")
    stored: int = Field(0, description="Results newly stored (a repeated upload adds none).")


JobStatus = Literal["queued", "running", "done", "failed", "cancelled"]


class JobState(BaseModel):
    """A long analysis (a video, or a recording sent with job=true) and, when done, its result."""

    id: str
    kind: Literal["video", "audio"]
    status: JobStatus
    name: str = Field(description="The upload's file name, or 'the upload'.")
    source: str
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    progress_seconds: float = Field(0.0, description="Seconds of media analysed so far.")
    total_seconds: float | None = Field(None, description="The media's length, if known.")
    progress: float | None = Field(None, description="progress_seconds / total_seconds, 0..1.")
    cancel_requested: bool = False
    error: str | None = Field(None, description="Why the job failed or was cancelled.")
    result: VisualAnalyzeResponse | AudioAnalyzeResponse | None = Field(
        None, description="The analysis, once status is done."
    )


class StreamReply(AnalyzeResponse):
    """Reply to one WebSocket message."""

    id: str | int | None = None
    seq: int = Field(description="Number of the message this answers, from 1.")


class StoredResult(EmotionResult):
    """A result as kept in the store."""

    id: int
    created_at: datetime


class ResultsPage(BaseModel):
    """One page of stored results, newest first."""

    total: int = Field(description="Results matching the filters, over all pages.")
    limit: int
    offset: int
    items: list[StoredResult]


class StoredAlert(BaseModel):
    """An alert fired by `emolens watch`, as stored."""

    id: int
    rule: str = Field(description="The rule's name in the watch config.")
    created_at: datetime = Field(description="When it fired (UTC).")
    label: str
    share: float = Field(description="Share (0..1) of the label in the rule's window.")
    baseline: float | None = Field(None, description="Share over the baseline period, if any.")
    items: int = Field(description="Items in the window.")
    message: str = Field(description="The text that was sent.")
    delivered: list[str] = Field(default_factory=list,
                                 description="Notifiers it was sent to (log, webhook, email).")
    failed: dict[str, str] = Field(default_factory=dict,
                                   description="Notifiers that failed, and why.")
    details: dict[str, Any] = Field(default_factory=dict,
                                    description="window, threshold, model, sources, ...")


class AlertsPage(BaseModel):
    """One page of stored alerts, newest first."""

    total: int = Field(description="Alerts matching the filters, over all pages.")
    limit: int
    offset: int
    items: list[StoredAlert]


class AuditEntry(BaseModel):
    """One export through the service: who, what, how many rows, from where."""

    id: int
    created_at: datetime
    key_id: str | None = Field(description="The API key's id; None when auth is off.")
    key_name: str = Field(description="The key's name ('loopback-no-auth' when auth is off).")
    route: str = Field(description="e.g. 'GET /v1/results' (format=csv is in filters).")
    filters: dict[str, Any] = Field(description="The filters and limits the export used.")
    rows_returned: int
    client: str | None = Field(description="The client's address.")


class AuditPage(BaseModel):
    """One page of the audit log, newest first."""

    total: int
    limit: int
    offset: int
    items: list[AuditEntry]


class Distribution(BaseModel):
    """Items and share (percent) per label."""

    labels: list[str]
    counts: list[int]
    shares: list[float]


class Trend(BaseModel):
    """Share (percent) of each label per time bucket; None where a bucket has no items."""

    bucket: str | None = None
    time_column: str | None = Field(
        None, description="'timestamp' (item time) or 'created_at' (analysis time)."
    )
    starts: list[datetime] = Field(default_factory=list)
    ends: list[datetime] = Field(default_factory=list)
    counts: list[int] = Field(default_factory=list)
    shares: dict[str, list[float | None]] = Field(default_factory=dict)
    note: str | None = Field(None, description="Why the trend is empty (too many buckets).")


class Heatmap(BaseModel):
    """Share (percent) of each label within each group."""

    groups: list[str] = Field(default_factory=list)
    counts: list[int] = Field(default_factory=list)
    shares: dict[str, list[float | None]] = Field(default_factory=dict)


class ModelRows(BaseModel):
    """How many of the selected results one model produced in one modality."""

    model: str = Field(description="name@version, as stored ('' when none was stored).")
    modality: str
    rows: int


class Stats(BaseModel):
    """What `emolens report` draws, as numbers: distribution, trend and heatmap, and the
    models behind them."""

    total: int
    colors: dict[str, str]
    distribution: Distribution
    trend: Trend
    heatmap: Heatmap
    models: list[ModelRows] = Field(default_factory=list, description=(
        "Each model per modality with its rows, modalities by name, most rows first. Two "
        "models of one modality score the same items differently, and the charts pool them: "
        "pass `model` to see one."))
    mixed: list[str] = Field(default_factory=list, description=(
        "Modalities whose results come from more than one model (as `emolens report` warns)."))


class ModelInfo(BaseModel):
    """A model the service runs."""

    name: str
    id: str = Field(description="name@version, as stored with each result.")
    labels: list[str]
    default: bool


class ModelsResponse(BaseModel):
    """Models served, and every recognizer registered (which `emolens serve --model` can run)."""

    served: list[ModelInfo]
    registered: dict[str, str]
    speech: str | None = Field(
        None, description="The speech model behind /v1/analyze/audio (None: audio not served)."
    )
    vision: str | None = Field(
        None, description="The models behind /v1/analyze/image|video (None: vision not served)."
    )


class Health(BaseModel):
    """Liveness or readiness."""

    status: str
    models: list[str] = Field(default_factory=list, description=(
        "Models loaded, as name@version (the id stored with each result): text models, the "
        "default first, then speech and vision when served."))
    auth: bool | None = Field(None, description="Whether /v1 needs an API key.")


class Ready(Health):
    """Readiness, and what this service has loaded and is working on."""

    speech: str | None = Field(None, description="The speech model (None: --audio is off).")
    vision: str | None = Field(None, description="The vision models (None: --vision is off).")
    jobs: dict[str, int] = Field(default_factory=dict, description="Jobs queued and running.")


class ErrorBody(BaseModel):
    """Every error: a sentence saying what was wrong, plus field errors for invalid input."""

    detail: str
    errors: list[dict[str, Any]] | None = None
