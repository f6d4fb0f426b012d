"""The `core` Serve application: the chat ingress and its LLM."""

from typing import Any

from ray import serve
from ray.serve import Application
from ray.serve.handle import DeploymentHandle

from cortex.core.api import create_app
from cortex.core.remote import RemoteGuide, RemoteLLM, RemoteRetriever
from cortex.settings import Settings
from deployments._ingress import ServiceIngress
from deployments.llm import LLM


@serve.deployment
@serve.ingress()
class CoreAPI(ServiceIngress):
    """Ingress of the `core` application; chat reaches knowledge and helper through handles."""

    def __init__(self, llm: DeploymentHandle) -> None:
        self.llm = llm

    def __serve_build_asgi_app__(self) -> Any:
        llm = self.llm

        def collaborators(settings: Settings) -> dict[str, Any]:
            return {
                "retriever": RemoteRetriever(serve.get_deployment_handle("Retriever", app_name="knowledge")),
                "guide": RemoteGuide(serve.get_deployment_handle("Guide", app_name="helper")),
                "llm": RemoteLLM(llm),
            }

        self.api = create_app(make_chat_collaborators=collaborators)
        return self.api


def build_app(args: dict[str, str]) -> Application:
    """App builder named by serve_config.yaml."""
    return CoreAPI.bind(llm=LLM.bind())
