"""How the package runs dbt: the manifest, in-process commands and the dbt step."""
