"""The `core` Serve application (the chat ingress and its LLM) and `openai`, a second door into it."""

from typing import Any

from ray import serve
from ray.serve import Application
from ray.serve.handle import DeploymentHandle

from cortex.core.api import create_app
from cortex.core.openai_api import create_app as create_openai_app
from cortex.settings import get_settings
from deployments._ingress import ServiceIngress, as_deployment
from deployments.handles import chat_collaborators, chat_dependency_checks
from deployments.llm import LLM


@serve.deployment
@serve.ingress()
class CoreAPI(ServiceIngress):
    """Ingress of the `core` application; chat reaches knowledge and helper through handles."""

    def __init__(self, llm: DeploymentHandle) -> None:
        self.llm = llm

    def __serve_build_asgi_app__(self) -> Any:
        self.api = create_app(
            make_chat_collaborators=chat_collaborators(lambda: self.llm),
            checks=chat_dependency_checks(get_settings()),
        )
        return self.api


@serve.deployment
@serve.ingress()
class OpenAIAPI(ServiceIngress):
    """Ingress of the `openai` application: OpenAI's wire format over core's chat pipeline.

    It runs the same ChatPipeline (with core's database role) and shares core's LLM deployment
    through a cross-application handle, so no second model is loaded.
    """

    def __serve_build_asgi_app__(self) -> Any:
        collaborators = chat_collaborators(lambda: serve.get_deployment_handle("LLM", app_name="core"))
        self.api = create_openai_app(
            make_chat_collaborators=collaborators, checks=chat_dependency_checks(get_settings())
        )
        return self.api


def build_app(args: dict[str, str]) -> Application:
    """App builder named by serve_config.yaml."""
    return as_deployment(CoreAPI).bind(llm=as_deployment(LLM).bind())


def build_openai_app(args: dict[str, str]) -> Application:
    """App builder of the `openai` application (serve_config.yaml)."""
    return as_deployment(OpenAIAPI).bind()
