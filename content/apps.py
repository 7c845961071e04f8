from django.apps import AppConfig


class ContentConfig(AppConfig):
    name = "content"

    def ready(self) -> None:
        from content import stores
        from core.storage import namespaces

        # what storage_move copies and storage_report measures for the content app
        namespaces.declare(
            stores.APP,
            document_collections=(stores.DOCUMENTS_COLLECTION,),
            vector_prefix=stores.VECTOR_PREFIX,
            index_dimensions_from="content.selectors.native_dimension",
            node_labels=(stores.GRAPH_LABEL,),
            edge_types=stores.GRAPH_EDGE_TYPES,
        )
