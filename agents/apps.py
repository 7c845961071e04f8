from django.apps import AppConfig


class AgentsConfig(AppConfig):
    name = "agents"

    def ready(self) -> None:
        from agents import stores
        from core.storage import namespaces

        # what storage_move copies and storage_report measures for the agents app
        namespaces.declare(
            stores.APP,
            document_collections=(stores.MESSAGES, stores.STATE),
            vector_prefix=stores.VECTOR_PREFIX,
            index_dimensions_from="content.selectors.native_dimension",
            node_labels=(stores.MEMORY_LABEL, stores.ENTITY_LABEL),
            edge_types=(stores.ABOUT,),
        )
