{#
    Spark applies a model contract's not_null constraints with ALTER TABLE ... SET NOT
    NULL, which only Delta tables accept. On the Parquet tables the product builds there,
    the constraints are skipped with a note in dbt's log: for a Spark product,
    `uv run contract dbt` gives each required column of a port a not_null test instead
    (check `<column>_is_not_null`), which stops a null before its port is published.
    Delta tables keep dbt-spark's behavior.
    Other engines never call this macro.
#}
{% macro spark__alter_column_set_constraints(relation, column_dict) %}
    {% if config.get('file_format', 'parquet') != 'delta' %}
        {{ log(relation ~ ': not_null constraints are not enforced on '
            ~ config.get('file_format', 'parquet') ~ ' tables', info=False) }}
        {{ return('') }}
    {% endif %}
    {% for column_name in column_dict %}
        {% for constraint in column_dict[column_name]['constraints'] %}
            {% if constraint.type == 'not_null' %}
                {% set quoted_name = adapter.quote(column_name)
                    if column_dict[column_name]['quote'] else column_name %}
                {% call statement() %}
                    alter table {{ relation }} change column {{ quoted_name }} set not null
                {% endcall %}
            {% endif %}
        {% endfor %}
    {% endfor %}
{% endmacro %}
