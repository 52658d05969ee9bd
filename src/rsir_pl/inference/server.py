"""``rsir serve``: top-k recommendations in original ids over HTTP, with LitServe.

    POST /recommend  {"user": "u17", "k": 10}
                     {"items": ["3", "17", "42"], "k": 5, "keep_history": false}
      -> 200 {"user": "u17", "items": ["12", ...], "scores": [7.31, ...]}
    GET /health      -> 200 "ok" once the model is loaded

A user's query is their whole known sequence; ``items`` is any sequence of known items. The
query's own items are excluded unless ``keep_history`` is true, as in ``rsir recommend``, and the
ranking is the model's ``predict_step`` on the same batch layout, so both give the same top-k.

Requests are validated in the HTTP process before they reach the model: malformed JSON is a
400, an unknown user or item a 404, any other invalid field (``k`` < 1 or above the catalogue,
both or neither of ``user``/``items``, unknown fields) a 422; the body is ``{"error": "..."}``
and the server keeps serving. With ``max_batch_size`` > 1 LitServe groups concurrent requests
into one model call.
"""

# no "from __future__ import annotations": LitServe and FastAPI read the request model from
# decode_request's annotation at run time, and a string annotation would not resolve

import logging
from dataclasses import dataclass
from typing import Any, Optional, Union

import numpy as np
import torch

from rsir_pl.data.dataset import InteractionDataset
from rsir_pl.data.store import SequenceStore
from rsir_pl.inference.recommend import query_batch
from rsir_pl.models.checkpoint import Checkpoint

try:
    import litserve as ls
    from fastapi import Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from pydantic import BaseModel, ConfigDict, Field, model_validator
    from pydantic_core import PydanticCustomError
except ImportError as exc:  # pragma: no cover - litserve is in the serve and dev extras
    raise ImportError("rsir serve needs LitServe: pip install 'rsir_pl[serve]'") from exc

log = logging.getLogger(__name__)

API_PATH = "/recommend"


@dataclass
class ServeData:
    """The model and the id maps a server answers from.

    ``users`` (original user id -> row of ``histories``) is None when the server was started
    without a dataset; it then answers ``items`` queries only.
    """

    ckpt: Checkpoint
    item_index: dict[str, int]
    users: Optional[dict[str, int]] = None
    histories: Optional[SequenceStore] = None
    dataset: Optional[str] = None

    @classmethod
    def build(cls, ckpt: Checkpoint, dataset: Optional[InteractionDataset] = None) -> "ServeData":
        """From a checkpoint and, for user queries, a dataset already in its ids (bound)."""
        if dataset is None:
            return cls(ckpt, ckpt.item_index())
        users = {str(u): i for i, u in enumerate(dataset.user_ids)}
        return cls(ckpt, ckpt.item_index(), users, dataset.sequences, dataset.name)

    def sequence(self, request: "RecommendRequest") -> np.ndarray:
        """The query's item sequence in internal ids; :class:`LookupError` names an unknown id."""
        if request.user is not None:
            if self.users is None or self.histories is None:
                raise LookupError("this server was started without user data; send 'items' instead")
            row = self.users.get(str(request.user))
            if row is None:
                raise LookupError(f"unknown user {str(request.user)!r}: not in dataset {self.dataset!r}")
            return self.histories[row]
        assert request.items is not None
        unknown = [str(x) for x in request.items if str(x) not in self.item_index]
        if unknown:
            raise LookupError(
                f"unknown item(s) {', '.join(repr(x) for x in unknown[:5])}: not in the model's catalogue "
                f"({len(self.item_index)} items)"
            )
        return np.array([self.item_index[str(x)] for x in request.items], dtype=np.int32)


#: what the HTTP processes validate against; set by :func:`build_server` before they fork
_ACTIVE: Optional[ServeData] = None


class RecommendRequest(BaseModel):
    """The body of ``POST /recommend``: exactly one of ``user`` and ``items``."""

    model_config = ConfigDict(extra="forbid")

    user: Optional[Union[str, int]] = None
    items: Optional[list[Union[str, int]]] = None
    k: int = Field(10, ge=1)
    keep_history: bool = False

    @model_validator(mode="after")
    def _one_known_query(self) -> "RecommendRequest":
        if (self.user is None) == (self.items is None):
            raise ValueError("give exactly one of 'user' (a user id) and 'items' (a list of item ids)")
        if self.items is not None and not self.items:
            raise ValueError("'items' is empty; give at least one item id")
        if _ACTIVE is not None:
            if self.k > _ACTIVE.ckpt.num_items:
                raise ValueError(f"k must be <= {_ACTIVE.ckpt.num_items}, the catalogue size (got {self.k})")
            try:
                _ACTIVE.sequence(self)
            except LookupError as exc:
                raise PydanticCustomError("unknown_id", str(exc)) from None
        return self


_SHAPE = 'e.g. {"user": "u17", "k": 10} or {"items": ["3", "17"], "k": 10}'


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    """One readable message per problem instead of FastAPI's error list."""
    status, messages = 422, []
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("application/json"):
        got = content_type or "none"
        return JSONResponse(
            {"error": f"send a JSON body with Content-Type: application/json (got {got!r}); {_SHAPE}"},
            status_code=415,
        )
    for err in exc.errors():
        kind = err.get("type")
        if kind == "json_invalid":
            status = 400
            messages.append(f"malformed JSON: {err.get('ctx', {}).get('error', err.get('msg'))}")
            continue
        if kind == "unknown_id":
            status = 404 if status == 422 else status
            messages.append(str(err.get("msg")))
            continue
        where = ".".join(str(x) for x in err.get("loc", ()) if x != "body")
        if not where and kind in ("missing", "model_attributes_type", "dict_type"):
            messages.append(f"the body must be a JSON object: {_SHAPE}")
            continue
        msg = str(err.get("msg")).removeprefix("Value error, ")
        messages.append(f"{where}: {msg}" if where else msg)
    return JSONResponse({"error": "; ".join(messages) or "invalid request"}, status_code=status)


class RecommendAPI(ls.LitAPI):
    """The LitServe API: decode a validated request to a query, rank a batch of queries with the
    model's ``predict_step``, encode original ids and scores."""

    def __init__(self, data: ServeData, max_batch_size: int = 1, batch_timeout: float = 0.0) -> None:
        super().__init__(max_batch_size=max_batch_size, batch_timeout=batch_timeout, api_path=API_PATH)
        self.data = data
        self.batched = max_batch_size > 1

    def setup(self, device: str) -> None:
        self.device_name = device
        self.model = self.data.ckpt.model.to(device).eval()
        self.item_ids = np.asarray(self.data.ckpt.item_ids, dtype=object)

    def decode_request(self, request: RecommendRequest) -> dict[str, Any]:
        return {
            "user": None if request.user is None else str(request.user),
            "sequence": self.data.sequence(request),
            "k": request.k,
            "keep_history": request.keep_history,
        }

    def predict(self, x: Any) -> Union[list[dict[str, Any]], dict[str, Any]]:
        # batched, LitServe's default batch() hands over the list of decoded requests
        queries = x if self.batched else [x]
        store = SequenceStore.from_lists([q["sequence"] for q in queries])
        k = max(q["k"] for q in queries)
        keep = np.array([q["keep_history"] for q in queries], dtype=bool)
        batch = query_batch(store, np.arange(len(queries)), self.model.max_len, k, keep)
        batch = {key: v.to(self.device_name) if isinstance(v, torch.Tensor) else v for key, v in batch.items()}
        with torch.inference_mode():
            out = self.model.predict_step(batch, 0)
        items, scores = out["items"].cpu().numpy(), out["scores"].float().cpu().numpy()
        answers = []
        for i, q in enumerate(queries):
            n = min(q["k"], items.shape[1])
            ok = np.isfinite(scores[i, :n])
            answers.append(
                {
                    "user": q["user"],
                    "items": [str(self.item_ids[j]) for j in items[i, :n][ok]],
                    "scores": [float(s) for s in scores[i, :n][ok]],
                }
            )
        return answers if self.batched else answers[0]

    def encode_response(self, output: dict[str, Any]) -> dict[str, Any]:
        if output["user"] is None:
            output = {k: v for k, v in output.items() if k != "user"}
        return output


def build_server(
    data: ServeData,
    max_batch_size: int = 1,
    batch_timeout: float = 0.0,
    accelerator: str = "auto",
    workers: int = 1,
    timeout: float = 30.0,
) -> ls.LitServer:
    """A LitServer of :class:`RecommendAPI` on one device (``workers`` model copies on it)."""
    global _ACTIVE
    _ACTIVE = data
    api = RecommendAPI(data, max_batch_size=max_batch_size, batch_timeout=batch_timeout)
    server = ls.LitServer(api, accelerator=accelerator, devices=1, workers_per_device=workers, timeout=timeout)
    server.app.add_exception_handler(RequestValidationError, _validation_error)
    return server


def serve(
    data: ServeData,
    host: str = "127.0.0.1",
    port: int = 8000,
    max_batch_size: int = 1,
    batch_timeout: float = 0.0,
    accelerator: str = "auto",
    workers: int = 1,
    log_level: str = "warning",
) -> None:
    """Run the server until it is stopped (Ctrl+C or SIGTERM)."""
    server = build_server(data, max_batch_size, batch_timeout, accelerator, workers)
    log.info(
        "serving %s (%d items%s) on http://%s:%d%s",
        data.ckpt.source,
        data.ckpt.num_items,
        f", {len(data.users)} users of {data.dataset}" if data.users is not None else ", items queries only",
        host,
        port,
        API_PATH,
    )
    server.run(host=host, port=port, generate_client_file=False, log_level=log_level)
