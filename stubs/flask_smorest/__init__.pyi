# flask-smorest 0.47 (no py.typed): what incident_service.api uses of it.
from typing import Any, Callable, Mapping, TypeVar

import flask
from apispec import APISpec
from flask import Flask

F = TypeVar("F", bound=Callable[..., Any])

class Api:
    DEFAULT_ERROR_RESPONSE_NAME: str | None
    spec: APISpec
    def __init__(
        self, app: Flask | None = ..., *, spec_kwargs: Mapping[str, Any] | None = ..., config_prefix: str = ...
    ) -> None: ...
    def init_app(self, app: Flask, *, spec_kwargs: Mapping[str, Any] | None = ...) -> None: ...
    def register_blueprint(self, blp: Blueprint, *, parameters: list[Any] | None = ..., **options: Any) -> None: ...
    def _register_error_handlers(self) -> None: ...
    def _register_responses(self) -> None: ...

class Blueprint(flask.Blueprint):
    def __init__(
        self, name: str, import_name: str, *args: Any, description: str | None = ..., **kwargs: Any
    ) -> None: ...
    def arguments(
        self,
        schema: Any,
        *,
        location: str = ...,
        content_type: str | None = ...,
        required: bool = ...,
        description: str | None = ...,
        example: Any = ...,
        examples: Mapping[str, Any] | None = ...,
        **kwargs: Any,
    ) -> Callable[[F], F]: ...
    def response(
        self,
        status_code: int,
        schema: Any = ...,
        *,
        content_type: str | None = ...,
        description: str | None = ...,
        example: Any = ...,
        examples: Mapping[str, Any] | None = ...,
        headers: Mapping[str, Any] | None = ...,
    ) -> Callable[[F], F]: ...
    def alt_response(
        self,
        status_code: int,
        response: str | None = ...,
        *,
        schema: Any = ...,
        description: str | None = ...,
        example: Any = ...,
        examples: Mapping[str, Any] | None = ...,
        headers: Mapping[str, Any] | None = ...,
        content_type: str | None = ...,
        success: bool = ...,
    ) -> Callable[[F], F]: ...
    @staticmethod
    def doc(**kwargs: Any) -> Callable[[F], F]: ...
