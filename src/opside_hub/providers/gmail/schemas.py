from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from opside_hub.core.schemas import ApiModel


class GmailConnect(ApiModel):
    """A code the frontend obtained from Google itself (popup flow)."""

    code: str = Field(min_length=1, max_length=2048)
    state: str | None = Field(default=None, max_length=128)
    code_verifier: str | None = Field(default=None, min_length=43, max_length=128)
    redirect_uri: str | None = Field(default=None, max_length=2048)


# -- our API --------------------------------------------------------------------------------------


class GmailAttachment(ApiModel):
    part_id: str
    filename: str
    mime_type: str
    size: int


class GmailMessageSummary(ApiModel):
    """A Gmail message as the live search shows it (Gmail's fields, camelCase, plus the
    Subject/From/To headers); `id` is the Gmail message id."""

    id: str
    thread_id: str | None
    history_id: str | None
    label_ids: list[str]
    snippet: str | None
    internal_date: datetime | None
    size_estimate: int
    subject: str | None
    from_: str | None = Field(alias="from")
    to: str | None


class GmailEmail(GmailMessageSummary):
    """A synced message (`/api/gmail/emails`)."""

    has_attachments: bool
    attachments: list[GmailAttachment]
    synced_at: datetime


# -- Gmail's wire models (gmail.v1.json): the fields we read; unknown ones are kept ----------------


class GmailModel(BaseModel):
    model_config = ConfigDict(extra="allow")


class MessagePartHeader(GmailModel):
    name: str = ""
    value: str = ""


class MessagePartBody(GmailModel):
    attachmentId: str | None = None
    size: int = 0
    data: str | None = None


class MessagePart(GmailModel):
    partId: str = ""
    mimeType: str = ""
    filename: str = ""
    headers: list[MessagePartHeader] = Field(default_factory=list)
    body: MessagePartBody | None = None
    parts: list[MessagePart] = Field(default_factory=list)


class Message(GmailModel):
    id: str
    threadId: str | None = None
    labelIds: list[str] = Field(default_factory=list)
    snippet: str | None = None
    historyId: str | None = None
    internalDate: str | None = None
    sizeEstimate: int = 0
    payload: MessagePart | None = None


class MessageRef(GmailModel):
    id: str
    threadId: str | None = None


class ListMessagesResponse(GmailModel):
    messages: list[MessageRef] = Field(default_factory=list)
    nextPageToken: str | None = None
    resultSizeEstimate: int = 0


class HistoryMessageAdded(GmailModel):
    message: MessageRef


class History(GmailModel):
    id: str
    messagesAdded: list[HistoryMessageAdded] = Field(default_factory=list)


class ListHistoryResponse(GmailModel):
    history: list[History] = Field(default_factory=list)
    historyId: str | None = None
    nextPageToken: str | None = None


class Profile(GmailModel):
    emailAddress: str
    messagesTotal: int = 0
    threadsTotal: int = 0
    historyId: str | None = None
