from django.apps import AppConfig


class KnowledgeConfig(AppConfig):
    name = "knowledge"

    def ready(self) -> None:
        from core.storage import namespaces
        from knowledge import stores

        # what storage_move copies and storage_report measures for the knowledge app
        namespaces.declare(
            stores.APP,
            vector_prefix=stores.VECTOR_PREFIX,
            index_dimensions_from="content.selectors.native_dimension",
            node_labels=(stores.ENTITY_LABEL, stores.DOCUMENT_LABEL),
            edge_types=stores.BUILTIN_EDGE_TYPES,
            edge_types_from="knowledge.stores.edge_types_in_use",
        )
