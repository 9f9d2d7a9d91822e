"""HTTP API v1 for the NLU admin: intent files, the gated retrain, model versions (README "HTTP API")."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from bot.errors import ApiError
from bot.nlu.catalog import BUILTIN, IntentError, IntentFiles
from bot.nlu.training import TrainingError
from bot.nlu.versions import Busy, ModelManager
from bot.services import Services


class IntentBody(BaseModel):
    yaml: str
    train: bool = True  # start the gated retrain after saving


class TrainBody(BaseModel):
    force: bool = False  # activate even if the gate says the new model is worse (recorded)


def build_nlu_router(services: Services, authorised: Callable[..., Awaitable[None]]) -> APIRouter:
    router = APIRouter(prefix="/nlu", dependencies=[Depends(authorised)])

    # A part this deployment does not run (the keyword rules alone, GRIDBOT_NLU=rules, have no models)
    # answers 404 like a platform whose settings are absent: not 503, which says "try again later".
    def files() -> IntentFiles:
        if services.intents is None:
            raise ApiError(404, "本部署未启用意图文件 / intent files are not configured here")
        return services.intents

    def models() -> ModelManager:
        if services.models is None:
            raise ApiError(404, "本部署未启用模型管理 / model management is off here (GRIDBOT_NLU=rules)")
        return services.models

    @router.get("/intents")
    async def intents() -> dict[str, Any]:
        catalog = _catalog(files())
        return {
            "intents": [
                {
                    "intent": s.intent,
                    "name": s.name,
                    "report": s.is_report,
                    "builtin": s.intent in BUILTIN,
                    "examples": len(s.examples),
                    "keywords": len(s.keywords),
                    "priority": s.priority,
                }
                for s in catalog.ordered()
            ]
        }

    @router.get("/intents/{intent}")
    async def intent(intent: str) -> dict[str, Any]:
        try:
            return {"intent": intent, "yaml": files().read(intent)}
        except KeyError as exc:
            raise ApiError(404, "未知的意图 / unknown intent") from exc
        except IntentError as exc:
            raise ApiError(422, str(exc)) from exc

    @router.put("/intents/{intent}")
    async def put_intent(intent: str, body: IntentBody) -> dict[str, Any]:
        try:
            spec = files().write(intent, body.yaml)
        except IntentError as exc:
            raise ApiError(422, str(exc)) from exc
        return {"intent": spec.intent, "examples": len(spec.examples), "training": _maybe_train(body.train)}

    @router.delete("/intents/{intent}")
    async def delete_intent(intent: str, train: bool = True) -> dict[str, Any]:
        try:
            files().delete(intent)
        except KeyError as exc:
            raise ApiError(404, "未知的意图 / unknown intent") from exc
        except IntentError as exc:
            raise ApiError(422, str(exc)) from exc
        return {"deleted": intent, "training": _maybe_train(train)}

    @router.post("/train", status_code=202)
    async def start_training(body: TrainBody | None = None) -> dict[str, Any]:
        try:
            return models().start(force=bool(body and body.force)).to_json()
        except Busy as exc:
            raise ApiError(409, "已有训练任务在运行 / a training job is already running") from exc

    @router.get("/train")
    async def training() -> dict[str, Any]:
        return models().job.to_json()

    @router.get("/models")
    async def versions() -> dict[str, Any]:
        manager = models()
        active = manager.registry.active()
        return {"active": active, "models": [asdict(r) for r in manager.registry.all()]}

    @router.post("/models/{version}/activate")
    async def activate(version: str) -> dict[str, Any]:
        manager = models()
        if manager.job.running:
            raise ApiError(409, "训练任务运行中，请稍后 / a training job is running")
        try:
            record = await manager.activate(version)
        except (TrainingError, IntentError) as exc:
            raise ApiError(404, str(exc)) from exc
        return asdict(record)

    def _maybe_train(train: bool) -> dict[str, Any] | None:
        if not train or services.models is None:
            return None
        try:
            return services.models.start().to_json()
        except Busy:
            return {"phase": "busy", "detail": "a training job is running; start another when it ends"}

    return router


def _catalog(files: IntentFiles) -> Any:
    try:
        return files.catalog()
    except IntentError as exc:
        raise ApiError(422, str(exc)) from exc
